"""Fixtures for the acceptance tests that drive corrald with the real virsh and libvirt-python."""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN_DIR = pathlib.Path(os.environ.get("CORRAL_BIN_DIR", ROOT / ".build" / "debug"))


# Modules whose guests listen on VNC or SPICE ports: daemons choose free ports from 5900 up by
# probing, so two such modules running at once (pytest -n, Scripts/test.sh) could race for one
# port. They share one xdist group, which runs on one worker, one module after another; every
# other module is a group of its own (so each module's fixtures are set up once).
GRAPHICS_MODULES = {"test_domain_corpus", "test_domains", "test_hostile_input", "test_tuning", "test_virt_install",
                    "test_virt_install_profiles"}


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        item.add_marker(pytest.mark.xdist_group("graphics" if module in GRAPHICS_MODULES else module))


def binary(name):
    path = BIN_DIR / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `swift build` first (Scripts/test.sh does)")
    return str(path)


_PROBE_CACHE = []


def seed_probe_cache(state_dir):
    """Gives a fresh state directory the emulator probe cache of one corrald started once per
    session: probing QEMU takes a new daemon about 3.5 s, a cached probe nothing (the cache is
    keyed by the emulator binary's identity, so it is exactly what the daemon would find)."""
    if not _PROBE_CACHE:
        directory = tempfile.mkdtemp(prefix="corral-probe-")
        process = subprocess.Popen(
            [binary("corrald"), "--socket", os.path.join(directory, "sock"), "--socket-ro", os.path.join(directory, "sock-ro"),
             "--state-dir", os.path.join(directory, "state"), "--run-dir", os.path.join(directory, "run"), "--no-default-network"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(directory, "sock")) and process.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        process.terminate()
        process.wait(10)
        _PROBE_CACHE.append(os.path.join(directory, "state", "cache"))
    cache, target = _PROBE_CACHE[0], os.path.join(state_dir, "cache")
    if os.path.isdir(cache) and not os.path.exists(target):
        shutil.copytree(cache, target)


class Daemon:
    """A corrald in its own temporary directory."""

    def __init__(self, extra_args=(), env=None, prefix=()):
        """`prefix` runs the daemon under another command (`ip netns exec NS`)."""
        self.dir = tempfile.mkdtemp(prefix="corral-pytest-")
        self.env = env
        self.prefix = list(prefix)
        self.socket = os.path.join(self.dir, "sock")
        self.socket_ro = os.path.join(self.dir, "sock-ro")
        self.log = open(os.path.join(self.dir, "corrald.log"), "a")
        self.extra_args = list(extra_args)
        self.launch()

    def launch(self):
        seed_probe_cache(os.path.join(self.dir, "state"))
        self.process = subprocess.Popen(
            self.prefix + [binary("corrald"), "--socket", self.socket, "--socket-ro", self.socket_ro,
             "--state-dir", os.path.join(self.dir, "state"), "--run-dir", os.path.join(self.dir, "run"), "--no-default-network"] + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 20
        while not (os.path.exists(self.socket) and os.path.exists(self.socket_ro)):
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("corrald did not start: " + open(self.log.name).read())
            time.sleep(0.02)

    def restart(self, kill=False):
        """Stops the daemon (SIGTERM, or SIGKILL) and starts it again on the same directories."""
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        for path in (self.socket, self.socket_ro):
            if kill and os.path.exists(path):
                os.unlink(path)
        self.launch()

    def log_text(self):
        self.log.flush()
        return open(self.log.name, errors="replace").read()

    @property
    def uri(self):
        return f"qemu+unix:///system?socket={self.socket}"

    @property
    def uri_ro(self):
        return f"qemu+unix:///system?socket={self.socket_ro}"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.kill_leftover_processes()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill_leftover_processes(self):
        """Kills what still uses the daemon's directory (guests a failed test left running), so
        one failure does not leave QEMUs slowing the tests after it."""
        marker = self.dir.encode() + b"/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker in f.read():
                        os.kill(int(entry), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture
def running(daemon, tmp_path):
    """corrald with the test guest "mon" running (its serial console in tmp_path/serial.log)."""
    from guest import domain_xml
    (tmp_path / "g.xml").write_text(domain_xml("mon", str(tmp_path / "serial.log")))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "mon")
    yield daemon
    run("virsh", "-c", daemon.uri, "destroy", "mon", check=False)


@pytest.fixture(scope="session")
def libvirtd():
    """A real libvirtd on qemu:///system: an existing one is used untouched, else one is started."""
    script = ROOT / "Scripts" / "test-libvirtd.sh"
    result = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail("could not start libvirtd: " + result.stderr)
    yield "qemu:///system"
    if "started" in result.stdout:
        subprocess.run(["bash", str(script), "stop"])


def run(*args, check=True, **kwargs):
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}): {result.stderr}")
    return result


def free_port():
    """A TCP port of 127.0.0.1 nothing listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
