"""The live generator: raises, re-triggers and clears alarms as a busy fleet would."""

import random
import threading

from .scenarios import SEVERITY_BY_TYPE
from .telemetry import alarm_types_for_profile

SEVERITIES_UP = {"WARNING": "MINOR", "MINOR": "MAJOR", "MAJOR": "CRITICAL"}


class Generator:
    """Each step does one or two things; the number of active alarms hovers around a dozen."""

    TARGET_ACTIVE = 12

    def __init__(self, sim, seed=None):
        self.sim = sim
        self.rng = random.Random(seed)

    def step(self):
        state = self.sim.state
        with state.lock:
            devices = sorted(
                (d for d in state.devices.values() if d.entity_type == "DEVICE"),
                key=lambda d: d.name,
            )
            tenant_devices = [d for d in devices if d.tenant_id in state.alarms_by_tenant]
            active = [
                a
                for alarms in state.alarms_by_tenant.values()
                for a in alarms[-500:]
                if not a.cleared and a.originator_id in state.devices
            ]
            events = []
            roll = self.rng.random()
            pressure = len(active) / self.TARGET_ACTIVE
            if roll < 0.45 / max(pressure, 0.5) or not active:
                events.append(self._raise(state, tenant_devices))
            elif roll < 0.75:
                events.append(self._retrigger(state, active))
            else:
                events.append(self._clear(state, active))
            return [e for e in events if e]

    def _raise(self, state, devices):
        device = self.rng.choice(devices)
        alarm_type = self.rng.choice(alarm_types_for_profile(device.type))
        info = state.rule_engine_alarm(device.name, alarm_type, SEVERITY_BY_TYPE[alarm_type])
        return {
            "event": "raised",
            "alarm": info["id"]["id"],
            "type": alarm_type,
            "device": device.name,
        }

    def _retrigger(self, state, active):
        alarm = self.rng.choice(active)
        severity = alarm.severity
        if self.rng.random() < 0.3:
            severity = SEVERITIES_UP.get(severity, severity)
        device = state.devices[alarm.originator_id]
        state.rule_engine_alarm(device.name, alarm.type, severity)
        return {"event": "retriggered", "alarm": alarm.id, "severity": severity}

    def _clear(self, state, active):
        alarm = self.rng.choice(active)
        state.rule_engine_clear(alarm.id)
        return {"event": "cleared", "alarm": alarm.id}


class GeneratorThread(threading.Thread):
    def __init__(self, generator, interval):
        super().__init__(name="tbsim-generator", daemon=True)
        self.generator = generator
        self.interval = interval
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.interval):
            self.generator.step()

    def stop(self):
        self.stopped.set()
