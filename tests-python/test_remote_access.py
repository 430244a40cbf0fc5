"""Remote access as libvirt's own clients use it: TLS with client certificates, TCP with SASL,
SSH through nc, corrald.conf, keepalive, socket activation and libvirt's socket paths — driven
with the real virsh, libvirt-python, certtool, saslpasswd2, sshd and systemd-socket-activate."""
import os
import socket
import ssl
import struct
import subprocess
import time

import libvirt
import pytest

from conftest import ROOT, Daemon, binary, run
from rawrpc import REMOTE, RawClient, parse_error
from remote_pki import PKI, SASLUsers, SSHServer, free_port

ALLOWED = "country = GB\nstate = London\norganization = Corral Test\ncn = client1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI(str(tmp_path_factory.mktemp("pki")))
    pki.allowed = pki.client("allowed", ALLOWED)
    pki.stranger = pki.client("stranger", "country = FR\norganization = Elsewhere\ncn = intruder")
    pki.revoked = pki.client("revoked", "country = GB\nstate = London\ncn = revoked")
    pki.crl = pki.revocation_list(pki.revoked)
    other = PKI(str(tmp_path_factory.mktemp("other-ca")), ca_name="Another CA")
    pki.foreign = other.client("foreign", ALLOWED)
    return pki


@pytest.fixture(scope="module")
def sasl(tmp_path_factory):
    users = SASLUsers(str(tmp_path_factory.mktemp("sasl")))
    users.add("alice", "wonderland")
    users.good = users.auth_file("alice", "wonderland")
    users.bad = users.auth_file("alice", "looking-glass", name="bad.conf")
    return users


def config_file(directory, text):
    path = os.path.join(directory, "corrald.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_remote_daemon(tmp_path_factory, text, sasl=None):
    directory = str(tmp_path_factory.mktemp("conf"))
    env = dict(os.environ)
    if sasl:
        env["SASL_CONF_PATH"] = sasl.dir
    return Daemon(["--listen", "--config", config_file(directory, text)], env=env)


@pytest.fixture(scope="module")
def remote(pki, sasl, tmp_path_factory):
    """corrald with TLS (certificates, DN list, CRL) and TCP with SASL (DIGEST-MD5's layer)."""
    tls_port, tcp_port = free_port(), free_port()
    daemon = start_remote_daemon(tmp_path_factory, f"""
listen_addr = "127.0.0.1"
tls_port = "{tls_port}"
ca_file = "{pki.dir}/cacert.pem"
cert_file = "{pki.dir}/servercert.pem"
key_file = "{pki.dir}/serverkey.pem"
crl_file = "{pki.crl}"
tls_allowed_dn_list = ["C=GB,ST=London,*"]
listen_tcp = 1
tcp_port = "{tcp_port}"
auth_tcp = "sasl"
keepalive_interval = 1
keepalive_count = 2
""", sasl=sasl)
    daemon.tls_port, daemon.tcp_port = tls_port, tcp_port
    daemon.tls_uri = lambda client: f"qemu+tls://localhost:{tls_port}/system?pkipath={client}"
    daemon.tcp_uri = f"qemu+tcp://localhost:{tcp_port}/system"
    yield daemon
    daemon.stop()


def virsh(uri, *args, auth=None, check=True):
    env = dict(os.environ)
    if auth:
        env["LIBVIRT_AUTH_FILE"] = auth
    return run("virsh", "-c", uri, *args, check=check, env=env)


def test_tls_serves_virsh_and_libvirt_python(remote, pki, tmp_path):
    uri = remote.tls_uri(pki.allowed)
    assert virsh(uri, "uri").stdout.strip() == uri
    (tmp_path / "d.xml").write_text("<domain type='qemu'><name>over-tls</name><memory>65536</memory><os><type>hvm</type></os></domain>")
    virsh(uri, "define", str(tmp_path / "d.xml"))
    assert "over-tls" in virsh(uri, "list", "--all", "--name").stdout
    connection = libvirt.open(uri)
    try:
        assert connection.isSecure() == 1 and connection.isEncrypted() == 1
        assert connection.lookupByName("over-tls").name() == "over-tls"
    finally:
        connection.close()
    # The Unix socket sees the same daemon.
    assert "over-tls" in virsh(remote.uri, "list", "--all", "--name").stdout
    virsh(uri, "undefine", "over-tls")


@pytest.mark.parametrize("client, logged", [
    ("stranger", "not on the list of allowed clients (tls_allowed_dn_list): C=FR,O=Elsewhere,CN=intruder"),
    ("revoked", "certificate is revoked (C=GB,ST=London,CN=revoked)"),
    ("foreign", "TLS client refused"),
])
def test_tls_refuses_clients_the_rules_exclude(remote, pki, client, logged):
    result = virsh(remote.tls_uri(getattr(pki, client)), "hostname", check=False)
    assert result.returncode != 0
    assert logged in remote.log_text()
    # Everyone else is still served.
    assert virsh(remote.tls_uri(pki.allowed), "hostname").returncode == 0


def test_tls_without_a_client_certificate_is_refused(remote, pki):
    context = ssl.create_default_context(cafile=f"{pki.dir}/cacert.pem")
    with socket.create_connection(("127.0.0.1", remote.tls_port)) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"\0\0\0\x1c")
                assert tls.recv(1) == b""  # closed instead of confirmed
                raise ConnectionResetError("closed")
    assert remote.alive()


def test_tcp_sasl_with_a_security_layer(remote, sasl):
    assert virsh(remote.tcp_uri, "hostname", auth=sasl.good).returncode == 0
    connection = open_with_password(remote.tcp_uri, "alice", "wonderland")
    try:
        # DIGEST-MD5's layer makes plain TCP secure, and every call goes through it.
        assert connection.isSecure() == 1 and connection.isEncrypted() == 1
        assert connection.getHostname() and connection.listAllDomains() == []
    finally:
        connection.close()
    assert "ssf=128 user=alice" in remote.log_text()
    refused = virsh(remote.tcp_uri, "hostname", auth=sasl.bad, check=False)
    assert refused.returncode != 0 and "authentication failed" in refused.stderr


def open_with_password(uri, user, password):
    """libvirt-python's openAuth with a callback that answers SASL's questions."""
    def answer(credentials, _):
        for credential in credentials:
            credential[4] = user if credential[0] == libvirt.VIR_CRED_AUTHNAME else password
        return 0
    return libvirt.openAuth(uri, [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], answer, None], 0)


def sasl_data(data):
    return struct.pack(">I", len(data)) + b"".join(struct.pack(">i", b - 256 if b > 127 else b) for b in data)


def test_tcp_refusals_before_authentication_with_raw_frames(remote):
    client = RawClient(("127.0.0.1", remote.tcp_port))
    header, body = client.call(REMOTE, 66)  # AUTH_LIST
    assert header["status"] == 0 and struct.unpack(">II", body[:8]) == (1, 1)  # [SASL]
    header, body = client.call(REMOTE, 1, struct.pack(">I", 0) + struct.pack(">I", 0))  # CONNECT_OPEN
    assert header["status"] == 1 and parse_error(body)[2] == "authentication required"
    header, body = client.call(REMOTE, 69, struct.pack(">i", 1) + sasl_data(b""))  # STEP before INIT
    assert header["status"] == 1 and parse_error(body)[2] == "authentication failed: authentication failed"
    header, body = client.call(REMOTE, 70)  # AUTH_POLKIT
    assert header["status"] == 1 and parse_error(body)[0] == 45
    header, body = client.call(REMOTE, 67)  # AUTH_SASL_INIT
    assert header["status"] == 0 and b"DIGEST-MD5" in body
    mechanism = b"NO-SUCH-MECH"
    start = struct.pack(">I", len(mechanism)) + mechanism + b"\0" * (-len(mechanism) % 4) + struct.pack(">i", 0) + sasl_data(b"garbage")
    header, body = client.call(REMOTE, 68, start)
    assert header["status"] == 1 and parse_error(body)[0] == 45
    header, body = client.call(REMOTE, 69, struct.pack(">i", 0) + struct.pack(">I", 70000))  # more than 65536 chars
    assert header["status"] == 1
    header, body = client.call(REMOTE, 66)  # still served
    assert header["status"] == 0
    client.close()
    assert remote.alive()


KEEPALIVE = 0x6B656570


def test_keepalive_pings_a_silent_client_then_closes_it(remote):
    silent = RawClient(remote.socket)
    silent.open()
    header, body = silent.call(REMOTE, 60, struct.pack(">i", 10))  # supports keepalive?
    assert struct.unpack(">i", body)[0] == 1
    started = time.time()
    packet = silent.receive()
    assert packet is not None and packet[0]["program"] == KEEPALIVE and packet[0]["procedure"] == 1  # PING
    while silent.receive() is not None:
        pass
    closed_after = time.time() - started
    assert 1.0 <= closed_after <= 6.0
    # A client that answers stays.
    answering = RawClient(remote.socket)
    answering.open()
    answering.call(REMOTE, 60, struct.pack(">i", 10))
    deadline = time.time() + 4
    pings = 0
    while time.time() < deadline:
        header, _ = answering.receive()
        if header["program"] == KEEPALIVE and header["procedure"] == 1:
            pings += 1
            answering.send_raw(answering.frame(KEEPALIVE, 2, msg_type=2, serial=0))
    assert pings >= 2
    assert answering.call(REMOTE, 59)[0]["status"] == 0


def test_tls_with_sasl_scram_and_tcp_without_authentication(pki, tmp_path_factory):
    scram = SASLUsers(str(tmp_path_factory.mktemp("scram")), mechanisms="scram-sha-256")
    scram.add("alice", "wonderland")
    good, bad = scram.auth_file("alice", "wonderland"), scram.auth_file("alice", "queen", name="bad.conf")
    tls_port, tcp_port = free_port(), free_port()
    daemon = start_remote_daemon(tmp_path_factory, f"""
listen_addr = "127.0.0.1"
tls_port = "{tls_port}"
ca_file = "{pki.dir}/cacert.pem"
cert_file = "{pki.dir}/servercert.pem"
key_file = "{pki.dir}/serverkey.pem"
auth_tls = "sasl"
listen_tcp = 1
tcp_port = "{tcp_port}"
auth_tcp = "none"
""", sasl=scram)
    try:
        uri = f"qemu+tls://localhost:{tls_port}/system?pkipath={pki.allowed}"
        assert virsh(uri, "hostname", auth=good).returncode == 0
        assert "ssf=0 user=alice" in daemon.log_text()  # TLS protects it: no SASL layer
        assert virsh(uri, "hostname", auth=bad, check=False).returncode != 0
        plain = f"qemu+tcp://127.0.0.1:{tcp_port}/system"
        connection = libvirt.open(plain)
        assert connection.isSecure() == 0
        connection.close()
        assert 'TCP listener without authentication (auth_tcp = "none")' in daemon.log_text()
    finally:
        daemon.stop()


@pytest.mark.parametrize("text, message", [
    ("listen_tls = 1\nno_such_key = 1\n", ":2: unknown setting 'no_such_key'"),
    ("tcp_port = \"99999\"\n", ":1: tcp_port: '99999' is not a port number from 1 to 65535"),
    ("cert_file = \"/x.pem\"\n", ":1: ca_file, cert_file and key_file must be set together"),
])
def test_bad_configuration_stops_the_daemon_naming_the_line(tmp_path, text, message):
    path = config_file(str(tmp_path), text)
    result = subprocess.run([binary("corrald"), "--config", path, "--socket", str(tmp_path / "s"), "--socket-ro", str(tmp_path / "r"),
                             "--state-dir", str(tmp_path / "st"), "--run-dir", str(tmp_path / "run"), "--no-default-network"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert path + message in result.stderr


def test_missing_certificates_stop_the_daemon_as_libvirtd_says(tmp_path):
    path = config_file(str(tmp_path), f'ca_file = "{tmp_path}/none.pem"\ncert_file = "{tmp_path}/c.pem"\nkey_file = "{tmp_path}/k.pem"\ntls_port = "{free_port()}"\n')
    result = subprocess.run([binary("corrald"), "--listen", "--config", path, "--socket", str(tmp_path / "s"), "--socket-ro", str(tmp_path / "r"),
                             "--state-dir", str(tmp_path / "st"), "--run-dir", str(tmp_path / "run"), "--no-default-network"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"Cannot read CA certificate '{tmp_path}/none.pem': No such file or directory" in result.stderr


def test_unix_socket_permissions_and_group_from_the_file(tmp_path_factory):
    daemon = Daemon(["--config", config_file(str(tmp_path_factory.mktemp("perm")),
                                             'unix_sock_rw_perms = "0660"\nunix_sock_ro_perms = "0640"\nunix_sock_group = "daemon"\n')])
    try:
        import grp
        rw, ro = os.stat(daemon.socket), os.stat(daemon.socket_ro)
        assert oct(rw.st_mode & 0o777) == "0o660" and oct(ro.st_mode & 0o777) == "0o640"
        assert rw.st_gid == grp.getgrnam("daemon").gr_gid == ro.st_gid
    finally:
        daemon.stop()


def test_libvirt_socket_paths_serve_qemu_system_clients(tmp_path):
    """In a mount namespace of the test's, with /run/libvirt on a fresh tmpfs, so the host's
    libvirtd (if any) is untouched."""
    script = f"""
set -e
mount -t tmpfs tmpfs /run/libvirt
{binary('corrald')} --libvirt-sockets --socket {tmp_path}/s --socket-ro {tmp_path}/r --state-dir {tmp_path}/st --run-dir {tmp_path}/run --no-default-network > {tmp_path}/log 2>&1 &
daemon=$!
for i in $(seq 200); do [ -S /run/libvirt/libvirt-sock-ro ] && break; sleep 0.05; done
stat -c '%a %n' /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro
virsh -c qemu:///system uri
virsh -r -c qemu:///system hostname > /dev/null && echo read-only ok
kill $daemon; wait $daemon || true
"""
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    subprocess.run(["pkill", "-f", f"--state-dir {tmp_path}/st"], check=False)
    assert result.returncode == 0, result.stderr + open(f"{tmp_path}/log").read()
    lines = result.stdout.split("\n")
    assert "600 /run/libvirt/libvirt-sock" in lines and "666 /run/libvirt/libvirt-sock-ro" in lines
    assert "qemu:///system" in lines and "read-only ok" in lines


def test_socket_activation_and_readiness(tmp_path, pki):
    sock, sock_ro = str(tmp_path / "act-sock"), str(tmp_path / "act-sock-ro")
    tls_port = free_port()
    conf = config_file(str(tmp_path), f'ca_file = "{pki.dir}/cacert.pem"\ncert_file = "{pki.dir}/servercert.pem"\nkey_file = "{pki.dir}/serverkey.pem"\n')
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify"))
    log = open(tmp_path / "log", "w")
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", sock, "-l", sock_ro, "-l", f"127.0.0.1:{tls_port}",
         "--fdname=corrald.socket:corrald-ro.socket:corrald-tls.socket", "-E", "NOTIFY_SOCKET",
         binary("corrald"), "--config", conf, "--state-dir", str(tmp_path / "st"), "--run-dir", str(tmp_path / "run"), "--no-default-network"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(100):
            if os.path.exists(sock_ro):
                break
            time.sleep(0.05)
        # The first connection starts the daemon, which serves it on the socket it was given.
        assert virsh(f"qemu+unix:///system?socket={sock}", "uri").stdout.strip().startswith("qemu+unix")
        assert notify.recv(4096).decode().startswith("READY=1")
        assert virsh(f"qemu+tls://localhost:{tls_port}/system?pkipath={pki.allowed}", "hostname").returncode == 0
        refused = virsh(f"qemu+unix:///system?socket={sock_ro}", "define", "/dev/null", check=False)
        assert refused.returncode != 0 and "read only access prevents virDomainDefineXML" in refused.stderr
        log.flush()
        assert "listening on a socket from systemd" in open(tmp_path / "log").read()
        # The daemon's own socket paths were not bound: only systemd's.
        assert not os.path.exists(tmp_path / "run" / "corrald-sock")
    finally:
        activator.terminate()
        activator.wait(10)
        subprocess.run(["pkill", "-f", f"--state-dir {tmp_path}/st"], check=False)
        notify.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SSHServer(str(tmp_path_factory.mktemp("sshd")))
    yield server
    server.stop()


def test_ssh_through_nc_to_corralds_socket(daemon, sshd, tmp_path, monkeypatch):
    """libvirt's ssh transport with an explicit socket: ssh runs `nc -U SOCKET` on the far side,
    as OpenNebula's and others' `qemu+ssh://` URIs do."""
    user = os.environ.get("USER") or "root"
    uri = f"qemu+ssh://{user}@127.0.0.1:{sshd.port}/system?socket={daemon.socket}&keyfile={sshd.key}&no_verify=1"
    env = dict(os.environ, HOME=str(tmp_path))  # known_hosts goes to a scratch home
    (tmp_path / "d.xml").write_text("<domain type='qemu'><name>over-ssh</name><memory>65536</memory><os><type>hvm</type></os></domain>")
    assert run("virsh", "-c", uri, "define", str(tmp_path / "d.xml"), env=env).returncode == 0
    assert "over-ssh" in run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout
    monkeypatch.setenv("HOME", str(tmp_path))
    connection = libvirt.open(uri)
    try:
        assert connection.lookupByName("over-ssh").isPersistent() == 1
    finally:
        connection.close()
    # Read-only over ssh: libvirt's client picks the read-only socket it is given.
    ro = f"qemu+ssh://{user}@127.0.0.1:{sshd.port}/system?socket={daemon.socket_ro}&keyfile={sshd.key}&no_verify=1"
    refused = run("virsh", "-c", ro, "undefine", "over-ssh", env=env, check=False)
    assert refused.returncode != 0 and "read only access prevents" in refused.stderr


def test_corral_client_over_tls_tcp_and_ssh(remote, pki, daemon, sshd, tmp_path):
    corral = binary("corral")
    tls = run(corral, "-c", remote.tls_uri(pki.allowed), "hostname")
    assert tls.stdout.strip() != ""
    refused = run(corral, "-c", remote.tls_uri(pki.stranger), "hostname", check=False)
    assert refused.returncode != 0 and "the server refused the certificate" in refused.stderr
    sasl_only = run(corral, "-c", remote.tcp_uri, "hostname", check=False)
    assert sasl_only.returncode != 0 and "requires SASL authentication" in sasl_only.stderr
    user = os.environ.get("USER") or "root"
    (tmp_path / "d.xml").write_text("<domain type='qemu'><name>corral-ssh</name><memory>65536</memory><os><type>hvm</type></os></domain>")
    ssh_uri = f"qemu+ssh://{user}@127.0.0.1:{sshd.port}/system?socket={daemon.socket}&keyfile={sshd.key}&no_verify=1"
    env = dict(os.environ, HOME=str(tmp_path))
    run(corral, "-c", ssh_uri, "define", str(tmp_path / "d.xml"), env=env)
    assert "corral-ssh" in run(corral, "-c", ssh_uri, "list", "--all", env=env).stdout
    assert "corral-ssh" in run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout


def test_shipped_systemd_units_verify(tmp_path):
    """systemd's own checker on the repository's units, with ExecStart pointing at this build."""
    units = sorted((ROOT / "systemd").glob("corrald*"))
    assert {u.name for u in units} >= {"corrald.service", "corrald.socket", "corrald-ro.socket", "corrald-tls.socket", "corrald-tcp.socket"}
    for unit in units:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/corrald", binary("corrald")))
    result = run("systemd-analyze", "verify", "--man=no", *[str(tmp_path / u.name) for u in units], check=False)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    service = (ROOT / "systemd" / "corrald.service").read_text()
    assert "Type=notify" in service and "KillMode=process" in service  # guests outlive the daemon
