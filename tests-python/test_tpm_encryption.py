"""An emulated TPM's state encrypted with a secret (`<backend type='emulator'><encryption
secret/>`): swtpm_setup makes the state under the secret's passphrase and swtpm reads it with it
(each from a pipe, as libvirt passes them), so the state opens with that passphrase only."""
import base64
import os
import time

from conftest import run
from guest import domain_xml, remove_guests

SECRET_UUID = "3c5b1f0e-9d2a-4e7b-8c61-0f4a2d9e7b15"
GUEST_UUID = "5e1d0c3b-7a29-4f86-b1d4-2c9e8f0a6b37"


def define_secret(daemon, tmp_path, usage="vtpm", uuid=SECRET_UUID):
    element = "<name>tpm-state</name>" if usage == "vtpm" else "<volume>/var/lib/corral/x.img</volume>"
    (tmp_path / f"secret-{usage}.xml").write_text(
        f"<secret ephemeral='no' private='yes'><uuid>{uuid}</uuid><usage type='{usage}'>{element}</usage></secret>")
    run("virsh", "-c", daemon.uri, "secret-define", str(tmp_path / f"secret-{usage}.xml"))


def set_value(daemon, passphrase, uuid=SECRET_UUID):
    run("virsh", "-c", daemon.uri, "secret-set-value", uuid, base64.b64encode(passphrase).decode())


def encrypted_tpm_guest(tmp_path, secret=SECRET_UUID, banks=True):
    # The UUID written in capitals: libvirt keeps it in its canonical form. With PCR banks,
    # swtpm_setup reconfigures the state at each start, before swtpm runs.
    tpm = (f"<tpm model='tpm-crb'><backend type='emulator' version='2.0'><encryption secret='{secret.upper()}'/>"
           + ("<active_pcr_banks><sha256/></active_pcr_banks>" if banks else "") + "</backend></tpm>")
    xml = domain_xml("sealed", None, devices=tpm).replace("<name>sealed</name>", f"<name>sealed</name><uuid>{GUEST_UUID}</uuid>")
    (tmp_path / "sealed.xml").write_text(xml)
    return str(tmp_path / "sealed.xml")


def start(daemon):
    return run("virsh", "-c", daemon.uri, "start", "sealed", "--paused", check=False)


def test_the_tpm_state_opens_only_with_its_secret(daemon, tmp_path):
    define_secret(daemon, tmp_path)
    set_value(daemon, b"correct horse battery staple")
    try:
        run("virsh", "-c", daemon.uri, "define", encrypted_tpm_guest(tmp_path))
        assert f"<encryption secret='{SECRET_UUID}'/>\n        <active_pcr_banks>" in run("virsh", "-c", daemon.uri, "dumpxml", "sealed").stdout
        first = start(daemon)
        assert first.returncode == 0, first.stderr
        run("virsh", "-c", daemon.uri, "destroy", "sealed")
        state = os.path.join(daemon.dir, "state", "swtpm", GUEST_UUID, "tpm2", "tpm2-00.permall")
        assert os.path.getsize(state) > 0
        # Another passphrase cannot open the state: swtpm_setup's reconfigure says so (at once,
        # though swtpm_setup itself would wait forever on the emulator that failed) ...
        set_value(daemon, b"wrong horse")
        began = time.monotonic()
        refused = start(daemon)
        assert refused.returncode != 0 and "Data integrity is compromised" in refused.stderr, refused.stderr
        assert time.monotonic() - began < 30
        # ... and without PCR banks to set, the TPM itself fails when QEMU starts it.
        run("virsh", "-c", daemon.uri, "define", encrypted_tpm_guest(tmp_path, banks=False))
        refused = start(daemon)
        assert refused.returncode != 0, "the TPM state opened with another passphrase"
        run("virsh", "-c", daemon.uri, "define", encrypted_tpm_guest(tmp_path))
        # Its own passphrase opens it again.
        set_value(daemon, b"correct horse battery staple")
        again = start(daemon)
        assert again.returncode == 0, again.stderr
        run("virsh", "-c", daemon.uri, "destroy", "sealed")
    finally:
        remove_guests(daemon, "sealed")
        run("virsh", "-c", daemon.uri, "secret-undefine", SECRET_UUID, check=False)
    assert daemon.alive()


def test_a_secret_of_another_usage_is_refused(daemon, tmp_path):
    other = "8d2f6a1c-4b3e-4c5d-9e7f-1a2b3c4d5e6f"
    define_secret(daemon, tmp_path, usage="volume", uuid=other)
    set_value(daemon, b"volume passphrase", uuid=other)
    try:
        run("virsh", "-c", daemon.uri, "define", encrypted_tpm_guest(tmp_path, secret=other))
        refused = start(daemon)
        assert refused.returncode != 0 and f"secret with uuid {other} is of type 'volume' not expected 'vtpm' type" in refused.stderr, refused.stderr
    finally:
        remove_guests(daemon, "sealed")
        run("virsh", "-c", daemon.uri, "secret-undefine", other, check=False)
