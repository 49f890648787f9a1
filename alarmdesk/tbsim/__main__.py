"""python -m alarmdesk.tbsim --host 127.0.0.1 --port 8080 --scenario demo|empty|scale"""

import argparse
import sys

from .app import Options
from .server import RunningSimulator


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m alarmdesk.tbsim",
        description="A ThingsBoard CE 4.4 simulator for AlarmDesk's demo, tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port and prints it")
    parser.add_argument("--scenario", choices=("demo", "empty", "scale"), default="demo")
    parser.add_argument("--token-ttl", type=int, default=9000, help="access token lifetime (s)")
    parser.add_argument(
        "--refresh-ttl", type=int, default=604800, help="refresh token lifetime (s)"
    )
    parser.add_argument("--alarms", type=int, default=100_000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=10_000, help="scale: of which not cleared")
    parser.add_argument(
        "--no-generator", action="store_true", help="do not raise, re-trigger and clear alarms live"
    )
    parser.add_argument(
        "--generator-interval", type=float, default=4.0, help="seconds between live generator steps"
    )
    parser.add_argument(
        "--rest-limit",
        metavar="CAPACITY:SECONDS[,...]",
        help="tenant REST rate limit, e.g. 100:1,2000:60 (429 code 33)",
    )
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.active > args.alarms:
        sys.exit("--active cannot exceed --alarms")
    options = Options(
        scenario=args.scenario,
        token_ttl=args.token_ttl,
        refresh_ttl=args.refresh_ttl,
        rest_limit=args.rest_limit,
        alarms=args.alarms,
        active=args.active,
        seed=args.seed,
    )
    # The scale scenario is for benchmarks: nothing may move under them.
    live = not args.no_generator and args.scenario == "demo"
    running = RunningSimulator(
        options, args.host, args.port, generator_interval=args.generator_interval if live else None
    )
    print(f"ThingsBoard simulator ({args.scenario}) listening on {running.url}", flush=True)
    try:
        running.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
