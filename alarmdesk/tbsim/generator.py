"""The live generator: raises, re-triggers and clears alarms as a busy fleet would."""

import random
import threading

from .scenarios import SEVERITY_BY_TYPE
from .state import now_ms
from .telemetry import ALARM_RULES, SAMPLE_MS, alarm_types_for_profile

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
        # A rule raises an alarm on the reading it has just received, stamped with that
        # reading's time: the last sample, so a chart opened at once already shows it.
        ts = now_ms() // SAMPLE_MS * SAMPLE_MS
        types = [t for t in alarm_types_for_profile(device.type) if _fits(state, device, t, ts)]
        if not types:
            return None
        alarm_type = self.rng.choice(types)
        if state.active_alarm(device.id, alarm_type) is not None:
            ts = None  # a re-trigger: its endTs must not move back
        info = state.rule_engine_alarm(device.name, alarm_type, SEVERITY_BY_TYPE[alarm_type], ts)
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


def _fits(state, device, alarm_type, ts):
    """Whether the device's reading at `ts` can raise this alarm: there is one (an offline
    device sends none, so it can only stay silent), and it is not the reading of another
    alarm on the same key (one reading is not both below 10 °C and above 30 °C)."""
    key = ALARM_RULES[alarm_type].key
    if key is None:
        return True
    at, value = state.telemetry.latest(device.id, device.type, [key], ts).get(key, (None, None))
    return at == ts and not any(
        (value > rule.threshold if rule.direction == "above" else value < rule.threshold)
        for rule in ALARM_RULES.values()
        if rule.key == key and rule.alarm_type != alarm_type
    )


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
