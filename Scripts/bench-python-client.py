#!/usr/bin/python3
"""corral-bench's Python client: the calls libvirt-python users make, timed the same way for
every target, printed as one JSON line (calls, seconds, p50 and p99 in seconds).

  bench-python-client.py monitor URI DOMAIN SECONDS   qemuMonitorCommand(query-status) in a loop
  bench-python-client.py direct SOCKET SECONDS         query-status on a QMP socket, no daemon
  bench-python-client.py list URI SECONDS PREFIX       what `virsh list --all` calls, repeated
  bench-python-client.py dominfo URI SECONDS PREFIX    what `virsh dominfo` calls, for every domain
  bench-python-client.py listall URI SECONDS           listAllDomains with every flag, one by one
  bench-python-client.py hostname URI SECONDS          getHostname in a loop: the RPC floor as
                                                       libvirt-python sees it

`list` and `dominfo` report one "call" per sequence over all the domains whose names start with
PREFIX (the sequences virsh runs, from tools/virsh-domain-monitor.c), and with `listall` the
number of RPCs a sequence makes ("rpcs"): times the `hostname` floor, the least any daemon could
take.
"""
import json
import socket
import sys
import time

QUERY = '{"execute":"query-status"}'


def timed(seconds, body):
    """Wall-clock latencies of `body`, and the client's own CPU time per call (`cpu_p50`: what
    libvirt-python and this script spend, which no daemon can take away)."""
    latencies, cpu = [], []
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        body()
        t1, c1 = time.perf_counter(), time.process_time()
        latencies.append(t1 - t0)
        cpu.append(c1 - c0)
        if t1 >= deadline:
            break
    latencies.sort()
    cpu.sort()
    return {
        "calls": len(latencies),
        "seconds": time.perf_counter() - start,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)],
        "cpu_p50": cpu[len(cpu) // 2],
    }


def monitor(uri, name, seconds):
    import libvirt
    import libvirt_qemu
    connection = libvirt.open(uri)
    domain = connection.lookupByName(name)
    for _ in range(50):
        libvirt_qemu.qemuMonitorCommand(domain, QUERY, 0)
    return timed(seconds, lambda: libvirt_qemu.qemuMonitorCommand(domain, QUERY, 0))


def direct(path, seconds):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    stream = sock.makefile("rwb", buffering=0)
    stream.readline()
    sock.sendall(b'{"execute":"qmp_capabilities"}\n')
    stream.readline()
    request = (QUERY + "\n").encode()

    def call():
        sock.sendall(request)
        while True:
            line = stream.readline()
            if not line:
                raise SystemExit("QEMU closed the monitor")
            if b'"return"' in line:
                return

    for _ in range(50):
        call()
    return timed(seconds, call)


def hostname(uri, seconds):
    import libvirt
    connection = libvirt.open(uri)
    for _ in range(50):
        connection.getHostname()
    return timed(seconds, connection.getHostname)


def virsh_list(uri, seconds, prefix):
    import libvirt
    connection = libvirt.open(uri)

    def sequence():
        # virsh list --all: every domain, then for each its id, name and state (the id and
        # name are the client's; the state is an RPC).
        for domain in connection.listAllDomains(0):
            if domain.name().startswith(prefix):
                domain.ID()
                domain.state()
    sequence()
    result = timed(seconds, sequence)
    result["rpcs"] = 1 + sum(1 for d in connection.listAllDomains(0) if d.name().startswith(prefix))
    return result


def virsh_dominfo(uri, seconds, prefix):
    import libvirt
    connection = libvirt.open(uri)
    domains = [d for d in connection.listAllDomains(0) if d.name().startswith(prefix)]

    def sequence():
        # virsh dominfo NAME for every domain: the lookup, then cmdDominfo's calls.
        for listed in domains:
            domain = connection.lookupByName(listed.name())
            domain.ID()
            domain.UUIDString()
            domain.OSType()
            domain.info()
            domain.isPersistent()
            domain.autostart()
            domain.hasManagedSaveImage(0)
            if connection.getSecurityModel()[0]:
                domain.securityLabel()
            domain.messages(0)
    result = timed(seconds, sequence)
    # Each domain: lookup, OS type, info, persistent, autostart, managed save, security
    # model (and label when there is a model), messages; the id and UUID are the client's.
    labelled = 1 if connection.getSecurityModel()[0] else 0
    result["rpcs"] = len(domains) * (8 + labelled)
    return result


# Every filter flag of virConnectListAllDomains, alone (and none).
LIST_FLAGS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]


def list_all_flags(uri, seconds):
    import libvirt
    connection = libvirt.open(uri)

    def sequence():
        for flags in LIST_FLAGS:
            connection.listAllDomains(flags)
    sequence()
    result = timed(seconds, sequence)
    result["rpcs"] = len(LIST_FLAGS)
    return result


def main():
    mode = sys.argv[1]
    if mode == "monitor":
        result = monitor(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif mode == "direct":
        result = direct(sys.argv[2], float(sys.argv[3]))
    elif mode == "list":
        result = virsh_list(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif mode == "dominfo":
        result = virsh_dominfo(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif mode == "hostname":
        result = hostname(sys.argv[2], float(sys.argv[3]))
    elif mode == "listall":
        result = list_all_flags(sys.argv[2], float(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
