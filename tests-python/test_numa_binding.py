"""Guest NUMA cells bound to host NUMA nodes (<numatune><memnode>): each cell's memory backend
gets its host nodes and policy (a cell without one, the guest's <memory> nodeset), `numatune
--config` keeps the cells' bindings, and a host node the machine lacks refuses the start in
libvirt's words before QEMU runs."""
import json

from conftest import run
from guest import domain_xml, remove_guests

CELLS = ("<cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB'/>"
         "<cell id='1' cpus='1' memory='64' unit='MiB'/></numa></cpu><vcpu>2</vcpu>")


def qom(uri, name, path, prop):
    command = json.dumps({"execute": "qom-get", "arguments": {"path": path, "property": prop}})
    return json.loads(run("virsh", "-c", uri, "qemu-monitor-command", name, command).stdout)["return"]


def test_cells_take_their_host_nodes_and_policies(daemon, tmp_path):
    tune = "<numatune><memory mode='strict' nodeset='0'/><memnode cellid='1' mode='preferred' nodeset='0'/></numatune>"
    xml = domain_xml("nb", str(tmp_path / "nb.log"), extra=tune + CELLS).replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>128</memory>")
    (tmp_path / "nb.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nb.xml"))
    try:
        run("virsh", "-c", daemon.uri, "start", "nb")
        assert qom(daemon.uri, "nb", "/objects/ram-node0", "policy") == "bind"
        assert qom(daemon.uri, "nb", "/objects/ram-node1", "policy") == "preferred"
        assert qom(daemon.uri, "nb", "/objects/ram-node1", "host-nodes") == [0]
        run("virsh", "-c", daemon.uri, "numatune", "nb", "--mode", "interleave", "--nodeset", "0", "--config")
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "nb").stdout
        assert "<memory mode='interleave' nodeset='0'/>" in inactive
        assert "<memnode cellid='1' mode='preferred' nodeset='0'/>" in inactive
    finally:
        remove_guests(daemon, "nb")


def test_a_host_node_the_machine_lacks_refuses_the_start(daemon, tmp_path):
    tune = "<numatune><memnode cellid='0' nodeset='63'/></numatune>"
    (tmp_path / "nb7.xml").write_text(domain_xml("nb7", str(tmp_path / "nb7.log"), extra=tune + CELLS))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nb7.xml"))
    try:
        started = run("virsh", "-c", daemon.uri, "start", "nb7", check=False)
        assert started.returncode != 0 and "NUMA node 63 is unavailable" in started.stderr, started.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "nb7").stdout.strip() == "shut off"
    finally:
        remove_guests(daemon, "nb7")
    assert daemon.alive()


def test_cells_written_out_of_order_and_a_cell_of_memory_only(daemon, tmp_path):
    """Cells are kept in id order whatever order they are written in, and a cell may have no
    vCPUs: the guest boots with a memory-only NUMA node, as QEMU reports it."""
    cells = ("<cpu><numa><cell id='1' memory='32' unit='MiB'/>"
             "<cell id='0' cpus='0-1' memory='96' unit='MiB'/></numa></cpu><vcpu>2</vcpu>")
    serial = str(tmp_path / "mo.log")
    (tmp_path / "mo.xml").write_text(domain_xml("mo", serial, extra=cells))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "mo.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "mo").stdout
        assert inactive.index("<cell id='0' cpus='0-1'") < inactive.index("<cell id='1' memory='32768' unit='KiB'/>")
        run("virsh", "-c", daemon.uri, "start", "mo")
        numa = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mo", "--hmp", "info numa").stdout
        assert "2 nodes" in numa and "node 0 cpus: 0 1" in numa and "node 1 size: 32 MB" in numa, numa
        assert "node 1 cpus: \n" in numa or "node 1 cpus:\n" in numa, numa
    finally:
        remove_guests(daemon, "mo")
