"""Records libvirt domain events from one or more daemons in a child process (libvirt-python's
default event loop, as real clients run it), so a test can check what each side reported in
which order without installing an event loop in pytest's own process."""
import json
import subprocess
import sys
import threading
import time

SCRIPT = r"""
import json, sys, threading, libvirt
libvirt.virEventRegisterDefaultImpl()
connections = [libvirt.open(uri) for uri in sys.argv[1:]]

def emit(side, kind, dom, value):
    print(json.dumps({"side": side, "kind": kind, "domain": dom.name(), "value": value}), flush=True)

for side, conn in enumerate(connections):
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                lambda c, d, event, detail, side: emit(side, "lifecycle", d, [event, detail]), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                                lambda c, d, iteration, side: emit(side, "iteration", d, iteration), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                lambda c, d, params, side: emit(side, "job-completed", d, params.get("type")), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_RTC_CHANGE,
                                lambda c, d, offset, side: emit(side, "rtc-change", d, offset), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG,
                                lambda c, d, action, side: emit(side, "watchdog", d, action), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR,
                                lambda c, d, path, alias, action, side: emit(side, "io-error", d, [path, alias, action]), side)
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                                lambda c, d, path, alias, action, reason, side: emit(side, "io-error-reason", d, [path, alias, action, reason]), side)
stopped = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
libvirt.virEventAddTimeout(50, lambda timer, opaque: None, None)
print("ready", flush=True)
while not stopped.is_set():
    libvirt.virEventRunDefaultImpl()
"""


class EventRecorder:
    """Listens on every URI given until ``stop``, which returns the events, each a dict with
    ``side`` (the URI's index), ``kind`` (lifecycle, iteration, job-completed, rtc-change,
    watchdog, io-error, io-error-reason), ``domain`` and ``value`` ([event, detail] for
    lifecycle events). Events travel asynchronously: ``wait``
    for the last one expected before stopping."""

    def __init__(self, *uris):
        self.process = subprocess.Popen([sys.executable, "-c", SCRIPT, *uris], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline().strip()
        if first != "ready":
            self.process.kill()
            raise RuntimeError(f"event recorder did not start: {first} {self.process.stderr.read()}")
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            if line.strip():
                self.events.append(json.loads(line))

    def wait(self, predicate, timeout=20):
        """Waits until ``predicate(events)`` holds; returns whether it did."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(list(self.events)):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        assert self.process.returncode == 0, self.process.stderr.read()
        return list(self.events)


def lifecycle(events, side, domain):
    """The (event, detail) pairs one side reported for one domain, in order."""
    return [tuple(e["value"]) for e in events if e["side"] == side and e["kind"] == "lifecycle" and e["domain"] == domain]


def in_order(sequence, *wanted):
    """Whether `wanted` occur in `sequence` in that order (others may come between)."""
    position = 0
    for item in sequence:
        if position < len(wanted) and item == wanted[position]:
            position += 1
    return position == len(wanted)
