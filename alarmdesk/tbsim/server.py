"""Serving the simulator on a real socket: from the command line, the demo and the tests."""

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import Options, Simulator
from .generator import GeneratorThread


class RequestHandler(WSGIRequestHandler):
    # HTTP/1.1 answers, as ThingsBoard's; Werkzeug still closes each connection after its
    # answer (no keep-alive), which costs throughput but not correctness.
    protocol_version = "HTTP/1.1"

    def connection_dropped(self, error, environ=None):
        # A simulated outage: close the socket with no answer at all.
        self.close_connection = True

    def log_request(self, code="-", size="-"):
        # One line per request would cost more than answering it; /sim/stats counts them.
        pass


class RunningSimulator:
    """A simulator serving on a background thread; `url` is where to reach it."""

    def __init__(self, options=None, host="127.0.0.1", port=0, generator_interval=None):
        self.sim = Simulator(options or Options())
        self.server = make_server(
            host, port, self.sim, threaded=True, request_handler=RequestHandler
        )
        self.server.daemon_threads = True
        self.host, self.port = host, self.server.server_port
        self.url = f"http://{host}:{self.port}"
        self.generator = (
            GeneratorThread(self.sim.generator, generator_interval) if generator_interval else None
        )
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="tbsim-http", daemon=True
        )

    def start(self):
        self._thread.start()
        if self.generator:
            self.generator.start()
        return self

    def serve_forever(self):
        if self.generator:
            self.generator.start()
        self.server.serve_forever()

    def stop(self):
        if self.generator:
            self.generator.stop()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
