"""A guest's disks seen through QEMU's own block layer, what a guest's reads and writes go
through: `qemu-io` on an image with no guest running, and HMP's `qemu-io` on a running guest's
disk device."""
import json
import os

from conftest import run


def make_image(path, pattern):
    run("qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M")
    run("qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} 0 64k", str(path))


def image_holds(path, pattern):
    """Whether the first 64 KiB of the image (read with no guest running) are all `pattern`."""
    result = run("qemu-io", "-f", "qcow2", "-r", "-c", f"read -P {pattern} 0 64k", str(path), check=False)
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout


def qemu_io(daemon, name, device, command):
    """`command` run by QEMU's block layer on the guest's virtio disk `device`; its output
    (HMP's qemu-io prints to QEMU's standard output: the guest's log), or HMP's error."""
    log = os.path.join(daemon.dir, "run", "domains", name, "qemu.log")
    start = os.path.getsize(log)
    path = f"/machine/peripheral/{device}/virtio-backend"
    reply = run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, "--hmp", f'qemu-io -d {path} "{command}"').stdout
    with open(log, errors="replace") as handle:
        handle.seek(start)
        return reply.strip() + handle.read()


def reads(daemon, name, device, pattern):
    """Whether the guest's disk reads `pattern` over its first 64 KiB."""
    output = qemu_io(daemon, name, device, f"read -P {pattern} 0 64k")
    assert "Error" not in output, output
    return "read 65536/65536" in output and "Pattern verification failed" not in output


BASE_BYTE, MIDDLE_BYTE, TOP_BYTE = "0x11", "0x22", "0x33"


def make_chain(directory, prefix=""):
    """base.img (raw, 0x11 at 0), middle.qcow2 (0x22 at 64k) and top.qcow2 (0x33 at 128k); the
    qcow2 headers name backing files that are nowhere. Returns the three paths."""
    base, middle, top = (str(directory / f"{prefix}{name}") for name in ("base.img", "middle.qcow2", "top.qcow2"))
    run("qemu-img", "create", "-q", "-f", "raw", base, "4M")
    run("qemu-io", "-f", "raw", "-c", f"write -P {BASE_BYTE} 0 64k", base)
    for image, pattern, offset in ((middle, MIDDLE_BYTE, "64k"), (top, TOP_BYTE, "128k")):
        run("qemu-img", "create", "-q", "-f", "qcow2", image, "4M")
        run("qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} {offset} 64k", image)
        run("qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b", "/nowhere/moved-away.qcow2", image)
    return base, middle, top


def chained_disk(base, middle, top, target="vda"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/>"
            f"<backingStore type='file'><format type='qcow2'/><source file='{middle}'/>"
            f"<backingStore type='file'><format type='raw'/><source file='{base}'/><backingStore/></backingStore>"
            f"</backingStore><target dev='{target}' bus='virtio'/></disk>")


def innermost_filename(description):
    """The file a `json:` node description reads in the end, through any nodes between (a raw
    node of a storage slice)."""
    while isinstance(description, dict) and "filename" not in description and "file" in description:
        description = description["file"]
    return description["filename"] if isinstance(description, dict) else description


def block_nodes(daemon, name):
    """QEMU's block nodes: node name → (file name, read-only, the file names below it). A node
    whose backing is not the one its header names has a `json:` file name, which is unfolded."""
    reply = run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps({"execute": "query-named-block-nodes", "arguments": {"flat": True}})).stdout
    nodes = {}
    for node in json.loads(reply)["return"]:
        file, below = node["file"], []
        if file.startswith("json:"):
            description = json.loads(file[len("json:"):])
            file = innermost_filename(description["file"])
            while "backing" in description:
                description = description["backing"]
                below.append(innermost_filename(description["file"]))
        nodes[node["node-name"]] = (file, node["ro"], below)
    return nodes
