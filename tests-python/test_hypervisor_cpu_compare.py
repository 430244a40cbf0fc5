"""virsh hypervisor-cpu-compare against corrald: each CPU compared with the host model of the
emulator as libvirtd compares it (the same verdict, the same errors), and the daemon's own
refusals of bad frames."""
import struct

import rawrpc
from conftest import run

CPUS = {
    "older-model": "<cpu mode='custom' match='exact'><model>qemu64</model></cpu>",
    "other-vendor": "<cpu mode='custom' match='exact'><model>Skylake-Client</model><vendor>Intel</vendor></cpu>",
    "host-cpu-missing-feature": "<cpu><arch>x86_64</arch><model>EPYC</model><vendor>AMD</vendor><feature name='x2apic'/></cpu>",
    "host-cpu-other-arch": "<cpu><arch>aarch64</arch><model>EPYC</model></cpu>",
    "strict": "<cpu mode='custom' match='strict'><model>qemu64</model></cpu>",
    "unknown-model": "<cpu mode='custom' match='exact'><model>NoSuch</model></cpu>",
    "host-model": "<cpu mode='host-model'/>",
    "missing-features": "<cpu mode='custom' match='exact'><model>Cascadelake-Server</model></cpu>",
    "unknown-feature": "<cpu mode='custom' match='exact'><model>qemu64</model><feature policy='require' name='nosuchfeature'/></cpu>",
    "forbidden": "<cpu mode='custom' match='exact'><model>qemu64</model><feature policy='forbid' name='la57'/></cpu>",
    # Haswell asks for six features TCG lacks: disabled, or optional, they are asked no more.
    "disabled-away": "<cpu mode='custom' match='exact'><model>Haswell</model>" + "".join(
        f"<feature policy='disable' name='{name}'/>" for name in ("pcid", "x2apic", "tsc-deadline", "hle", "invpcid"))
        + "<feature policy='optional' name='rtm'/></cpu>",
    "not-a-cpu": "<domain/>",
}


def test_cpus_compare_with_the_host_model_as_under_libvirtd(daemon, libvirtd, tmp_path):
    verdicts = {}
    for key, xml in CPUS.items():
        (tmp_path / f"{key}.xml").write_text(xml)
    # The host model itself, as domcapabilities lists it (virsh takes the file whole).
    (tmp_path / "domcaps.xml").write_text(run("virsh", "-c", libvirtd, "domcapabilities", "--virttype", "qemu").stdout)
    for key in list(CPUS) + ["domcaps"]:
        for flags in ([], ["--error"]):
            answers = []
            for uri in (daemon.uri, libvirtd):
                result = run("virsh", "-c", uri, "hypervisor-cpu-compare", "--virttype", "qemu", *flags, str(tmp_path / f"{key}.xml"), check=False)
                answers.append((result.returncode, result.stdout.strip(), result.stderr.strip()))
            assert answers[0] == answers[1], (key, flags, answers)
            verdicts[key, bool(flags)] = answers[0]
    assert "superset" in verdicts["older-model", False][1] and "identical" in verdicts["domcaps", False][1]
    assert "incompatible" in verdicts["missing-features", False][1] and "superset" in verdicts["disabled-away", False][1]
    assert "Host CPU does not provide required features: " in verdicts["missing-features", True][2]
    assert "Host CPU does not strictly match guest CPU: Extra features" in verdicts["strict", True][2]
    assert "Unknown CPU feature nosuchfeature" in verdicts["unknown-feature", False][2]
    assert daemon.alive()


def compare_frame(xml, flags=0, virttype="qemu"):
    absent = struct.pack(">I", 0)
    present = struct.pack(">I", 1) + rawrpc.xdr_string(virttype)
    return absent + absent + absent + present + rawrpc.xdr_string(xml) + struct.pack(">I", flags)


def test_the_daemons_own_refusals_of_compare_frames(daemon):
    client = rawrpc.RawClient(daemon.socket).open()
    cpu = "<cpu mode='custom' match='exact'><model>qemu64</model></cpu>"
    header, payload = client.call(rawrpc.REMOTE, 393, compare_frame(cpu))
    assert header["status"] == rawrpc.OK and struct.unpack(">i", payload[:4])[0] == 2
    for body, message in (
        (compare_frame(cpu, flags=4), "unsupported flags (0x4) in function qemuConnectCompareHypervisorCPU"),
        (compare_frame(""), "missing CPU definition"),
        (compare_frame("<cpu"), "(CPU_definition)"),
        (compare_frame("<cpu><arch>x86_64</arch></cpu>"), "Missing CPU model name"),
        (compare_frame(cpu, virttype="xen"), "Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'xen'"),
        (compare_frame(cpu, virttype="nonsense"), "unknown virttype: nonsense"),
        (compare_frame("<cpu>" + "<feature name='x'/>" * 20000 + "</cpu>"), "Unknown CPU feature x"),
    ):
        header, payload = client.call(rawrpc.REMOTE, 393, body)
        assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], (message, rawrpc.parse_error(payload))
    client.close()
    # A read-only connection may not compare (libvirt's ACL: connect:write).
    readonly = rawrpc.RawClient(daemon.socket_ro).open(read_only=True)
    header, payload = readonly.call(rawrpc.REMOTE, 393, compare_frame(cpu))
    assert header["status"] == rawrpc.ERROR
    assert "read only access prevents virConnectCompareHypervisorCPU" in rawrpc.parse_error(payload)[2]
    readonly.close()
    assert daemon.alive()
