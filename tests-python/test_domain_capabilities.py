"""virsh domcapabilities against corrald: the same document structure as libvirtd's, listing only
what Corral can start, and libvirtd's errors for what cannot be served."""
import subprocess
import xml.etree.ElementTree as ET

from conftest import run


def paths(element, prefix=""):
    here = prefix + "/" + element.tag
    found = {here}
    for child in element:
        found |= paths(child, here)
    return found


def enum_values(root, path, name):
    node = root.find(path)
    if node is None:
        return set()
    found = node.find(f"enum[@name='{name}']")
    return {value.text for value in found.findall("value")} if found is not None else set()


def test_domain_capabilities_follow_libvirts_layout_and_corrals_support(daemon, libvirtd):
    ours = ET.fromstring(run("virsh", "-c", daemon.uri, "domcapabilities", "--virttype", "qemu").stdout)
    theirs = ET.fromstring(run("virsh", "-c", libvirtd, "domcapabilities", "--virttype", "qemu").stdout)
    # Every element Corral writes is one libvirtd writes in the same place.
    assert paths(ours) <= paths(theirs), paths(ours) - paths(theirs)
    for tag in ("path", "domain", "machine", "arch"):
        assert ours.findtext(tag) == theirs.findtext(tag), tag
    assert ours.find("vcpu").get("max") == theirs.find("vcpu").get("max")
    # Corral lists what it can start: a subset of what libvirt can.
    for path, name in (("devices/disk", "bus"), ("devices/disk", "diskDevice"), ("devices/video", "modelType"),
                       ("devices/graphics", "type"), ("devices/rng", "backendModel"), ("os/loader", "type")):
        assert enum_values(ours, path, name) <= enum_values(theirs, path, name) or path == "devices/channel", (path, name)
        assert enum_values(ours, path, name), (path, name)
    assert {"virtio", "sata", "scsi", "ide", "usb", "fdc"} == enum_values(ours, "devices/disk", "bus")
    assert enum_values(ours, "devices/graphics", "type") == {"sdl", "vnc", "spice", "egl-headless"}
    # The features Corral has, as libvirtd reports them: the vmgenid device, and backing
    # chains the XML describes.
    for feature in ("vmcoreinfo", "genid", "backingStoreInput"):
        assert ours.find(f"features/{feature}").get("supported") == theirs.find(f"features/{feature}").get("supported") == "yes", feature
    # The named CPU models are the emulator's own: every one libvirtd lists (Corral also lists
    # the few QEMU has and libvirt's CPU map lacks, such as Denverton).
    ours_models = {m.text for m in ours.findall("cpu/mode[@name='custom']/model")}
    theirs_models = {m.text for m in theirs.findall("cpu/mode[@name='custom']/model")}
    assert theirs_models and theirs_models <= ours_models, theirs_models - ours_models
    assert not any(name.rsplit("-", 1)[-1][1:].isdigit() and name.rsplit("-", 1)[-1].startswith("v") for name in ours_models)
    # Each as libvirtd lists it: usable under the accelerator asked for, its vendor, deprecation.
    attributes = {m.text: sorted(m.attrib.items()) for m in ours.findall("cpu/mode[@name='custom']/model")}
    for model in theirs.findall("cpu/mode[@name='custom']/model"):
        assert attributes[model.text] == sorted(model.attrib.items()), model.text
    # The host model a host-model guest starts with: the one libvirtd finds for the same QEMU.
    def host_model(root):
        mode = root.find("cpu/mode[@name='host-model']")
        return mode.get("supported"), [(child.tag, sorted(child.attrib.items()), child.text) for child in mode]
    assert host_model(ours) == host_model(theirs) and host_model(ours)[0] == "yes" and len(host_model(ours)[1]) > 2
    q35 = ET.fromstring(run("virsh", "-c", daemon.uri, "domcapabilities", "--virttype", "qemu", "--machine", "q35").stdout)
    assert q35.findtext("machine").startswith("pc-q35-")


def test_requests_that_cannot_be_served_get_libvirtds_errors(daemon, libvirtd):
    for arguments in (["--virttype", "foo"], ["--virttype", "xen"], ["--arch", "foo"], ["--arch", "aarch64"], ["--machine", "foo"]):
        ours = subprocess.run(["virsh", "-c", daemon.uri, "domcapabilities"] + arguments, capture_output=True, text=True)
        theirs = subprocess.run(["virsh", "-c", libvirtd, "domcapabilities"] + arguments, capture_output=True, text=True)
        assert ours.returncode != 0 and ours.stderr == theirs.stderr, (arguments, ours.stderr, theirs.stderr)
    assert daemon.alive()
