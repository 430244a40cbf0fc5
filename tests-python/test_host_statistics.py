"""virsh's host statistics against corrald, with libvirtd's answers as the anchor: the same
fields, the same fixed figures, close moving ones, and the same errors."""
import subprocess

from conftest import run


def table(text):
    """`name: value KiB` lines as a dict of ints."""
    values = {}
    for line in text.splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            values[name.strip()] = int(value.split()[0])
    return values


def virsh(uri, *args):
    return subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True)


def test_cpu_and_memory_statistics_match_libvirtd(daemon, libvirtd):
    theirs = table(run("virsh", "-c", libvirtd, "nodecpustats").stdout)
    ours = table(run("virsh", "-c", daemon.uri, "nodecpustats").stdout)
    assert list(ours) == list(theirs) == ["user", "system", "idle", "iowait"]
    for name in ours:  # read a moment later: never less, and close
        assert theirs[name] <= ours[name] <= theirs[name] * 1.05 + 10**10, name
    per_cpu = table(run("virsh", "-c", daemon.uri, "nodecpustats", "--cpu", "0").stdout)
    assert 0 < per_cpu["idle"] <= ours["idle"]

    theirs = table(run("virsh", "-c", libvirtd, "nodememstats").stdout)
    ours = table(run("virsh", "-c", daemon.uri, "nodememstats").stdout)
    assert list(ours) == list(theirs) == ["total", "free", "buffers", "cached"]
    assert ours["total"] == theirs["total"]
    assert abs(ours["free"] - theirs["free"]) < theirs["total"] * 0.05
    theirs_cell = table(run("virsh", "-c", libvirtd, "nodememstats", "--cell", "0").stdout)
    ours_cell = table(run("virsh", "-c", daemon.uri, "nodememstats", "--cell", "0").stdout)
    assert list(ours_cell) == list(theirs_cell) == ["total", "free"] and ours_cell["total"] == theirs_cell["total"]

    theirs_free = table(run("virsh", "-c", libvirtd, "freecell", "--all").stdout)
    ours_free = table(run("virsh", "-c", daemon.uri, "freecell", "--all").stdout)
    assert list(ours_free) == list(theirs_free)
    assert abs(ours_free["Total"] - theirs_free["Total"]) < theirs_free["Total"] * 0.05 + 65536


def test_cpu_models_are_the_emulators(daemon, libvirtd):
    ours = run("virsh", "-c", daemon.uri, "cpu-models", "x86_64").stdout.split()
    theirs = run("virsh", "-c", libvirtd, "cpu-models", "x86_64").stdout.split()
    assert len(set(ours)) == len(ours) and "qemu64" in ours and "Skylake-Client" in ours
    assert not any(name.endswith(("-v1", "-v2")) for name in ours)
    assert len(set(theirs) & set(ours)) >= 0.9 * len(theirs)
    # A 32-bit guest's choice is the same x86 list, as libvirt gives it.
    assert run("virsh", "-c", daemon.uri, "cpu-models", "i686").stdout.split() == ours


def test_out_of_range_requests_get_libvirtds_errors(daemon, libvirtd):
    for args in (["nodecpustats", "--cpu", "9"], ["nodememstats", "--cell", "5"], ["freecell", "3"], ["cpu-models", "foo"]):
        ours, theirs = virsh(daemon.uri, *args), virsh(libvirtd, *args)
        assert ours.returncode != 0 and ours.stderr == theirs.stderr, (args, ours.stderr, theirs.stderr)
    assert daemon.alive()


def test_the_daemon_refuses_bad_raw_arguments_as_libvirtd_does(daemon, libvirtd):
    """Raw frames (libvirt's client checks some of these before sending): corrald's answers equal
    libvirtd's, code, domain and message."""
    import struct
    from rawrpc import REMOTE, RawClient, parse_error
    frames = [
        (227, struct.pack(">iiI", -1, 17, 0)), (227, struct.pack(">iiI", -1, -1, 0)), (227, struct.pack(">iiI", -1, 2, 0)),
        (227, struct.pack(">iiI", -5, 4, 0)), (227, struct.pack(">iiI", 9999, 4, 0)), (228, struct.pack(">iiI", 2, -1, 0)),
        (228, struct.pack(">iiI", 17, -1, 0)), (228, struct.pack(">iiI", 4, -1, 1)), (228, struct.pack(">iiI", 2, 7, 0)),
        (101, struct.pack(">ii", 0, 1025)), (101, struct.pack(">ii", -1, 1)), (101, struct.pack(">ii", 0, -1)), (101, struct.pack(">ii", 5, 1)),
    ]
    ours, theirs = RawClient(daemon.socket).open(), RawClient("/run/libvirt/libvirt-sock").open()
    try:
        for procedure, body in frames:
            mine, reference = ours.call(REMOTE, procedure, body), theirs.call(REMOTE, procedure, body)
            assert mine[0]["status"] == reference[0]["status"] == 1, (procedure, body.hex())
            assert parse_error(mine[1]) == parse_error(reference[1]), (procedure, body.hex())
        # nparams 0 asks for the count only.
        header, payload = ours.call(REMOTE, 227, struct.pack(">iiI", -1, 0, 0))
        assert header["status"] == 0 and payload == struct.pack(">Ii", 0, 4)
    finally:
        ours.close()
        theirs.close()
    assert daemon.alive()


def test_sysinfo_answers_as_libvirtd_does_on_this_host(daemon, libvirtd):
    """Both read the host's SMBIOS tables with dmidecode: the same document, or (a host without
    tables, as in virtual machines without SMBIOS) the same refusal."""
    ours = run("virsh", "-c", daemon.uri, "sysinfo", check=False)
    theirs = run("virsh", "-c", libvirtd, "sysinfo", check=False)
    assert ours.returncode == theirs.returncode
    if theirs.returncode != 0:
        assert "Host SMBIOS information is not available" in ours.stderr and "unsupported configuration" in ours.stderr
    else:
        assert ours.stdout == theirs.stdout
