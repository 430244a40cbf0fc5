"""Title, description and custom metadata (`virsh desc`, `virsh metadata`), live and in the
definition, with libvirt's events and refusals; the balloon-change event."""
import subprocess
import time

import libvirt
import pytest

from conftest import run
from guest import domain_xml

NS = "http://example.org/corral-test/1"


def watch(uri, event, domain):
    """A `virsh event` waiting for `event` (so the test can see it arrive)."""
    process = subprocess.Popen(["virsh", "-c", uri, "event", domain, "--event", event, "--loop", "--timeout", "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)  # registered
    return process


def test_title_description_and_elements(daemon, tmp_path):
    uri = daemon.uri
    (tmp_path / "m.xml").write_text(domain_xml("meta", str(tmp_path / "s.log")))
    run("virsh", "-c", uri, "define", str(tmp_path / "m.xml"))
    run("virsh", "-c", uri, "desc", "meta", "--title", "--new-desc", "A title")
    run("virsh", "-c", uri, "desc", "meta", "--new-desc", "line one\nline two")
    assert run("virsh", "-c", uri, "desc", "meta", "--title").stdout.strip() == "A title"
    assert run("virsh", "-c", uri, "desc", "meta").stdout.strip() == "line one\nline two"
    xml = run("virsh", "-c", uri, "dumpxml", "meta").stdout
    assert xml.index("<uuid>") < xml.index("<title>A title</title>") < xml.index("<description>line one")
    run("virsh", "-c", uri, "metadata", "meta", NS, "--key", "ex", "--set", "<app><setting name='x'>1</setting></app>")
    xml = run("virsh", "-c", uri, "dumpxml", "meta").stdout
    assert f'<ex:app xmlns:ex="{NS}">' in xml.replace("'", '"') and "<ex:setting name" in xml
    # Read back without the namespace, as libvirt gives it.
    assert run("virsh", "-c", uri, "metadata", "meta", NS).stdout.strip() == "<app>\n  <setting name='x'>1</setting>\n</app>"
    # The definition on disk keeps it across a daemon restart.
    daemon.restart()
    assert run("virsh", "-c", uri, "desc", "meta", "--title").stdout.strip() == "A title"
    run("virsh", "-c", uri, "metadata", "meta", NS, "--remove")
    missing = run("virsh", "-c", uri, "metadata", "meta", NS, check=False)
    assert missing.returncode != 0 and "metadata not found: Requested metadata element is not present" in missing.stderr
    conn = libvirt.open(uri)
    dom = conn.lookupByName("meta")
    with pytest.raises(libvirt.libvirtError, match="metadata title can't contain newlines"):
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "a\nb", None, None, 0)
    with pytest.raises(libvirt.libvirtError, match="failed to validate prefix"):
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<a/>", "1bad", NS, 0)
    with pytest.raises(libvirt.libvirtError, match="domain is not running"):
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "x", None, None, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    conn.close()


def test_live_metadata_and_events(running):
    uri = running.uri
    watcher = watch(uri, "metadata-change", "mon")
    run("virsh", "-c", uri, "desc", "mon", "--live", "--title", "--new-desc", "live only")
    assert run("virsh", "-c", uri, "desc", "mon", "--title").stdout.strip() == "live only"
    missing = run("virsh", "-c", uri, "desc", "mon", "--title", "--config", check=False)
    assert "live only" not in missing.stdout
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    assert "metadata-change" in out and "mon" in out, out
    # The live change is in the status file: a restarted daemon still has it.
    running.restart()
    assert run("virsh", "-c", uri, "desc", "mon", "--title").stdout.strip() == "live only"
    # The balloon's change is an event too.
    watcher = watch(uri, "balloon-change", "mon")
    run("virsh", "-c", uri, "setmem", "mon", "100M", "--live")
    deadline = time.time() + 20
    out = ""
    while time.time() < deadline and "balloon-change" not in out:
        time.sleep(1)
        if watcher.poll() is not None:
            break
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    assert "balloon-change" in out and "102400" in out, out
