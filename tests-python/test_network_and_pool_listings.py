"""The listings of a fresh daemon started with --no-default-network (as the test daemons are, so
they never touch the host's network): no networks (test_networks.py covers them), and exactly one
storage pool, `default`. Bad arguments are refused by the daemon itself."""
import struct

import libvirt

from conftest import run
from rawrpc import OK, REMOTE, RawClient, parse_error


def test_virsh_and_libvirt_python_list_no_networks_and_the_default_pool(daemon):
    nets = run("virsh", "-c", daemon.uri, "net-list", "--all", "--name").stdout
    pools = run("virsh", "-c", daemon.uri, "pool-list", "--all", "--name").stdout
    assert nets.strip() == "" and pools.split() == ["default"]
    connection = libvirt.open(daemon.uri)
    try:
        assert connection.listAllNetworks() == [] and [p.name() for p in connection.listAllStoragePools()] == ["default"]
        assert connection.numOfNetworks() == 0 and connection.numOfDefinedNetworks() == 0
        assert connection.numOfStoragePools() == 1 and connection.numOfDefinedStoragePools() == 0
        assert connection.listNetworks() == [] and connection.listDefinedStoragePools() == []
    finally:
        connection.close()


def test_bad_listing_arguments_are_refused_by_the_daemon(daemon):
    client = RawClient(daemon.socket).open()
    try:
        # CONNECT_LIST_ALL_NETWORKS (283) with a flag libvirt does not define.
        header, payload = client.call(REMOTE, 283, struct.pack(">iI", 1, 1 << 10))
        assert header["status"] != OK
        code, domain, message = parse_error(payload)
        assert (code, domain) == (8, 19) and "unsupported flags (0x400)" in message
        # CONNECT_LIST_ALL_STORAGE_POOLS (281): the type bits are known, the bit after them is not.
        header, _ = client.call(REMOTE, 281, struct.pack(">iI", 1, (1 << 19) | 1))
        assert header["status"] == OK
        header, payload = client.call(REMOTE, 281, struct.pack(">iI", 1, 1 << 20))
        assert header["status"] != OK and parse_error(payload)[1] == 18
        # CONNECT_LIST_NETWORKS (38) and CONNECT_LIST_STORAGE_POOLS (72) with a negative or huge maxnames.
        for procedure, limit in ((38, "REMOTE_NETWORK_LIST_MAX"), (72, "REMOTE_STORAGE_POOL_LIST_MAX")):
            for maxnames in (-1, 16385, 2**31 - 1):
                header, payload = client.call(REMOTE, procedure, struct.pack(">i", maxnames))
                assert header["status"] != OK and limit in parse_error(payload)[2]
    finally:
        client.close()
    assert daemon.alive()
