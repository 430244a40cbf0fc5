"""A domain's <seclabel>: Corral's security model is `none` (its capabilities say so), so a
guest labelled `none` starts and keeps its label, and one whose label names a model this host
has no driver for is refused at start in libvirt's words (libvirtd refuses selinux the same way
here)."""
from conftest import run
from guest import domain_xml


def labelled(tmp_path, name, label):
    xml = domain_xml(name, None).replace("</domain>", label + "</domain>")
    (tmp_path / f"{name}.xml").write_text(xml)
    return str(tmp_path / f"{name}.xml")


def test_an_unconfined_guest_starts_and_keeps_its_label(daemon, tmp_path):
    try:
        run("virsh", "-c", daemon.uri, "define", labelled(tmp_path, "unconfined", "<seclabel type='none'/>"))
        run("virsh", "-c", daemon.uri, "start", "unconfined", "--paused")
        assert "<seclabel type='none' model='none'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "unconfined").stdout
        assert "<model>none</model>" in run("virsh", "-c", daemon.uri, "capabilities").stdout
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "unconfined", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "unconfined", check=False)


def test_a_label_of_a_model_without_a_driver_is_refused_at_start(daemon, libvirtd, tmp_path):
    for uri in (daemon.uri, libvirtd):
        try:
            run("virsh", "-c", uri, "define", labelled(tmp_path, "confined", "<seclabel type='dynamic' model='selinux'/>"))
            refused = run("virsh", "-c", uri, "start", "confined", check=False)
            assert refused.returncode != 0 and "Security driver model 'selinux' is not available" in refused.stderr, (uri, refused.stderr)
        finally:
            run("virsh", "-c", uri, "undefine", "confined", check=False)
    # Corral has no DAC driver either: it does not run guests as another user.
    try:
        run("virsh", "-c", daemon.uri, "define", labelled(tmp_path, "dac", "<seclabel type='static' model='dac' relabel='no'><label>+107:+107</label></seclabel>"))
        refused = run("virsh", "-c", daemon.uri, "start", "dac", check=False)
        assert refused.returncode != 0 and "Security driver model 'dac' is not available" in refused.stderr, refused.stderr
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "dac", check=False)


def test_device_labels_of_the_none_model_or_none_start_and_others_are_refused(daemon, tmp_path):
    """A disk's or serial port's <source><seclabel>: `relabel='no'` without a model, or model
    none, start (Corral relabels nothing; libvirt 9.0 refuses a model-less one at start with
    "Security driver model '(null)' is not available", a slip Corral does not copy); a label
    for the DAC model is refused at start."""
    image = tmp_path / "disk.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "1M")
    devices = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{image}'><seclabel relabel='no'/></source>"
               f"<target dev='vda' bus='virtio'/></disk><serial type='file'><source path='{tmp_path}/serial.log'>"
               "<seclabel model='none' relabel='no'/></source></serial>")
    (tmp_path / "g.xml").write_text(domain_xml("labelled", None, devices=devices))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        run("virsh", "-c", daemon.uri, "start", "labelled", "--paused")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "labelled").stdout
        assert "<seclabel relabel='no'/>" in live and "<seclabel model='none' relabel='no'/>" in live, live
        run("virsh", "-c", daemon.uri, "destroy", "labelled")
        run("virsh", "-c", daemon.uri, "undefine", "labelled")
        (tmp_path / "g.xml").write_text(domain_xml("labelled", None, devices=devices.replace("<seclabel relabel='no'/>", "<seclabel model='dac' relabel='no'/>")))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        refused = run("virsh", "-c", daemon.uri, "start", "labelled", check=False)
        assert refused.returncode != 0 and "Security driver model 'dac' is not available" in refused.stderr, refused.stderr
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "labelled", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "labelled", check=False)
