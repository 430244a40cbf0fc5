"""libvirt 9.0's `<nvram type>` sources: the UEFI variable store on a block device or on a
network server (NBD here), as well as in a file. The firmware reads and writes its variables
there; the daemon neither makes the store from a template nor removes it with the definition
(it is the device's or the server's); a store of another type is refused at define."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port, run
from guest import remove_guests, wait_for

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def uefi_guest(name, nvram):
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>
    {nvram}
  </os>
  <features><acpi/></features>
  <devices><graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices>
</domain>"""


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def flash_files(daemon, name):
    blocks = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, '{"execute":"query-block"}').stdout)["return"]
    return {block["device"]: block["inserted"]["file"] for block in blocks if "pflash" in block["device"] and "inserted" in block}


def test_the_variable_store_on_an_nbd_server(daemon, tmp_path):
    store = tmp_path / "vars.img"
    shutil.copy(OVMF_VARS, store)
    port = free_port()
    server = subprocess.Popen(["qemu-nbd", "--persistent", "-f", "raw", "-x", "vars", "-b", "127.0.0.1", "-p", str(port), str(store)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=10, what="qemu-nbd to listen")
        nvram = f"<nvram type='network'><source protocol='nbd' name='vars'><host name='127.0.0.1' port='{port}'/></source></nvram>"
        (tmp_path / "nn.xml").write_text(uefi_guest("nn", nvram))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nn.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "nn").stdout
        assert f"<host name='127.0.0.1' port='{port}'/>" in inactive
        before = digest(store)
        run("virsh", "-c", daemon.uri, "start", "nn")
        assert flash_files(daemon, "nn") == {"pflash0": OVMF_CODE, "pflash1": f"nbd://127.0.0.1:{port}/vars"}
        # The firmware writes its variables (boot entries, counters) through QEMU's NBD client.
        wait_for(lambda: digest(store) != before, timeout=180, what="the firmware to write its variables over NBD")
        # No file store was made beside it.
        assert not os.path.exists(os.path.join(daemon.dir, "state", "nvram", "nn_VARS.fd"))
        run("virsh", "-c", daemon.uri, "destroy", "nn")
        refused = run("virsh", "-c", daemon.uri, "undefine", "nn", check=False)
        assert refused.returncode != 0 and "cannot undefine domain with nvram" in refused.stderr
        run("virsh", "-c", daemon.uri, "undefine", "nn", "--nvram")
        assert server.poll() is None and os.path.exists(store)
    finally:
        remove_guests(daemon, "nn")
        server.kill()
        server.wait()
    assert daemon.alive()


def test_the_variable_store_on_a_block_device(daemon, tmp_path):
    backing = tmp_path / "vars-backing.img"
    shutil.copy(OVMF_VARS, backing)
    loop = run("losetup", "-f", "--show", str(backing)).stdout.strip()
    try:
        (tmp_path / "nb.xml").write_text(uefi_guest("nb", f"<nvram type='block'><source dev='{loop}'/></nvram>"))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nb.xml"))
        before = digest(loop)
        run("virsh", "-c", daemon.uri, "start", "nb")
        assert flash_files(daemon, "nb") == {"pflash0": OVMF_CODE, "pflash1": loop}
        wait_for(lambda: digest(loop) != before, timeout=180, what="the firmware to write its variables on the block device")
        run("virsh", "-c", daemon.uri, "destroy", "nb")
        # The device stays: a block device's node is never unlinked with the definition.
        run("virsh", "-c", daemon.uri, "undefine", "nb", "--nvram")
        assert os.path.exists(loop)
    finally:
        remove_guests(daemon, "nb")
        run("losetup", "-d", loop, check=False)
    assert daemon.alive()


@pytest.mark.parametrize("kind, source", [("dir", "<source dir='/var/lib/nvram'/>"), ("volume", "<source pool='default' volume='vars'/>")])
def test_a_variable_store_of_another_type_is_refused_at_define(daemon, tmp_path, kind, source):
    (tmp_path / "nx.xml").write_text(uefi_guest("nx", f"<nvram type='{kind}'>{source}</nvram>"))
    refused = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nx.xml"), check=False)
    assert refused.returncode != 0 and f"unsupported configuration: unsupported nvram disk type '{kind}'" in refused.stderr
    assert "nx" not in run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout.split()
