"""An emulated TPM 2.0's <active_pcr_banks>: swtpm_setup activates exactly those banks on the
TPM's state at each start (libvirt's reconfigure), so a changed definition changes them."""
import os

from conftest import run
from guest import domain_xml, remove_guests, wait_for


def tpm_guest(name, banks):
    tpm = ("<tpm model='tpm-crb'><backend type='emulator' version='2.0'><active_pcr_banks>"
           + "".join(f"<{bank}/>" for bank in banks) + "</active_pcr_banks></backend></tpm>")
    # One UUID: the second definition replaces the first.
    return domain_xml(name, None, devices=tpm).replace(f"<name>{name}</name>", f"<name>{name}</name><uuid>7f0c2d9e-5a41-4b6e-9d1c-3a2b1c0d9e8f</uuid>")


def swtpm_log(daemon, name):
    path = os.path.join(daemon.dir, "run", "domains", name, "swtpm.log")
    return open(path, errors="replace").read() if os.path.exists(path) else ""


def test_the_active_pcr_banks_follow_the_definition(daemon, tmp_path):
    try:
        for banks, among in ((["sha384", "sha256"], "sha256,sha384"), (["sha1"], "sha1")):
            (tmp_path / "t.xml").write_text(tpm_guest("pcr", banks))
            run("virsh", "-c", daemon.uri, "define", str(tmp_path / "t.xml"))
            run("virsh", "-c", daemon.uri, "start", "pcr", "--paused")
            wait_for(lambda: f"Successfully activated PCR banks {among} among" in swtpm_log(daemon, "pcr"), timeout=30,
                     what=f"swtpm_setup to activate {among}")
            run("virsh", "-c", daemon.uri, "destroy", "pcr")
    finally:
        remove_guests(daemon, "pcr")
    assert daemon.alive()
