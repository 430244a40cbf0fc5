"""The corral qemu-config-* commands and define-from-qemu-config, as a user runs them."""
import subprocess

from conftest import binary, run

Q35 = """# shaped like QEMU's docs/config/q35-emulated.cfg
[machine]
  type = "q35"

[memory]
  size = "256"

[smp-opts]
  cpus = "2"

[device "ich9-pcie-port-1"]
  driver = "ioh3420"
  multifunction = "on"
  bus = "pcie.0"
  addr = "1c.0"
  port = "1"
  chassis = "1"

[netdev "hostnet"]
  type = "user"

[device "net"]
  driver = "e1000"
  netdev = "hostnet"
  addr = "19.0"   # CHANGE ME
"""


def test_to_xml_and_back_is_canonical(tmp_path):
    cfg = tmp_path / "q35.cfg"
    cfg.write_text(Q35)
    xml = run(binary("corral"), "qemu-config-to-xml", str(cfg)).stdout
    assert xml.startswith("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
    assert "<qemu:device id='net'>" in xml and "<addr>19.0</addr>" in xml
    back = subprocess.run([binary("corral"), "qemu-config-from-xml", "-"], input=xml, capture_output=True, text=True, check=True).stdout
    assert back.startswith("# qemu config file\n\n[machine]\n  type = \"q35\"\n\n")
    assert '[device "net"]\n  driver = "e1000"\n  netdev = "hostnet"\n  addr = "19.0"\n\n' in back
    again = subprocess.run([binary("corral"), "qemu-config-to-xml", "-"], input=back, capture_output=True, text=True, check=True).stdout
    assert again == xml


def test_check_reports_every_problem_with_its_line(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text('[name "x"]\n  guest = vm1\n  # indented\n\n[bogus]\nkey="v"\n')
    result = run(binary("corral"), "qemu-config-check", str(cfg), check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [l.split(":")[1] for l in lines] == ["1", "2", "3", "5", "6"]
    assert "silently read vm1 as an empty value" in result.stdout
    good = tmp_path / "good.cfg"
    good.write_text(Q35)
    ok = run(binary("corral"), "qemu-config-check", str(good))
    assert "OK, 6 sections" in ok.stdout


def test_define_from_qemu_config(daemon, tmp_path):
    cfg = tmp_path / "q35.cfg"
    cfg.write_text(Q35)
    out = run(binary("corral"), "-c", daemon.uri, "define-from-qemu-config", str(cfg), "--name", "fromcfg").stdout
    assert "Domain 'fromcfg' defined from" in out
    xml = run("virsh", "-c", daemon.uri, "dumpxml", "fromcfg").stdout
    assert "<memory unit='KiB'>262144</memory>" in xml
    assert "<vcpu placement='static'>2</vcpu>" in xml
    assert "machine='pc-q35-" in xml
    assert "<qemu:device id='ich9-pcie-port-1'>" in xml and "<qemu:netdev id='hostnet'>" in xml
    sections = subprocess.run([binary("corral"), "qemu-config-from-xml", "-"], input=xml, capture_output=True, text=True, check=True).stdout
    assert "[machine]" not in sections  # consumed into the domain itself
    assert '[device "ich9-pcie-port-1"]' in sections and '[netdev "hostnet"]' in sections
