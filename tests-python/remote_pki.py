"""Certificates, SASL users and credentials for the remote-access tests, made with the real tools
libvirt's documentation uses: GnuTLS's certtool and Cyrus SASL's saslpasswd2."""
import os
import socket
import subprocess

from conftest import free_port



def _certtool(directory, *args):
    subprocess.run(["certtool", *args], cwd=directory, check=True, capture_output=True)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


class PKI:
    """A CA with a server certificate for localhost/127.0.0.1 and client certificates, each
    client in a directory of its own laid out as libvirt's `pkipath=` expects."""

    def __init__(self, directory, ca_name="Corral Test CA", server_ips=()):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        _write(f"{directory}/ca.info", f"cn = {ca_name}\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 2\n")
        _certtool(directory, "--generate-privkey", "--outfile", "cakey.pem")
        _certtool(directory, "--generate-self-signed", "--load-privkey", "cakey.pem", "--template", "ca.info", "--outfile", "cacert.pem")
        ips = "".join(f"ip_address = {ip}\n" for ip in ("127.0.0.1",) + tuple(server_ips))
        _write(f"{directory}/server.info",
               "organization = Corral Test\ncn = localhost\ndns_name = localhost\n" + ips +
               "tls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n")
        _certtool(directory, "--generate-privkey", "--outfile", "serverkey.pem")
        _certtool(directory, "--generate-certificate", "--load-privkey", "serverkey.pem", "--load-ca-certificate", "cacert.pem",
                  "--load-ca-privkey", "cakey.pem", "--template", "server.info", "--outfile", "servercert.pem")
        self.serial = 100

    def client(self, name, subject):
        """A client's pkipath directory (cacert.pem, clientcert.pem, clientkey.pem)."""
        path = f"{self.dir}/{name}"
        os.makedirs(path, exist_ok=True)
        self.serial += 1
        _write(f"{path}/client.info", f"{subject}\nserial = {self.serial}\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n")
        _certtool(path, "--generate-privkey", "--outfile", "clientkey.pem")
        _certtool(path, "--generate-certificate", "--load-privkey", "clientkey.pem", "--load-ca-certificate", f"{self.dir}/cacert.pem",
                  "--load-ca-privkey", f"{self.dir}/cakey.pem", "--template", "client.info", "--outfile", "clientcert.pem")
        subprocess.run(["cp", f"{self.dir}/cacert.pem", path], check=True)
        return path

    def qemu_dir(self, client_dir):
        """The directory QEMU's tls-creds-x509 reads for migration TLS (qemu.conf's
        migrate_tls_x509_cert_dir): this CA, the server's and one client's certificate and key."""
        path = f"{self.dir}/qemu"
        os.makedirs(path, exist_ok=True)
        for source, name in ((f"{self.dir}/cacert.pem", "ca-cert.pem"), (f"{self.dir}/servercert.pem", "server-cert.pem"),
                             (f"{self.dir}/serverkey.pem", "server-key.pem"), (f"{client_dir}/clientcert.pem", "client-cert.pem"),
                             (f"{client_dir}/clientkey.pem", "client-key.pem")):
            subprocess.run(["cp", source, f"{path}/{name}"], check=True)
        return path

    def revocation_list(self, *clients):
        """A CRL revoking the given clients' certificates."""
        _write(f"{self.dir}/crl.info", "expiration_days = 2\n")
        args = []
        for client in clients:
            args += ["--load-certificate", f"{client}/clientcert.pem"]
        _certtool(self.dir, "--generate-crl", "--load-ca-certificate", "cacert.pem", "--load-ca-privkey", "cakey.pem",
                  *args, "--template", "crl.info", "--outfile", "cacrl.pem")
        return f"{self.dir}/cacrl.pem"


class SASLUsers:
    """A SASL configuration for the `libvirt` service (SASL_CONF_PATH) with a user database, and a
    client auth.conf (LIBVIRT_AUTH_FILE) holding one user's credentials."""

    def __init__(self, directory, mechanisms="scram-sha-256 digest-md5"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.database = f"{directory}/passwd.db"
        _write(f"{directory}/libvirt.conf", f"mech_list: {mechanisms}\nsasldb_path: {self.database}\n")

    def add(self, user, password):
        subprocess.run(["saslpasswd2", "-p", "-a", "libvirt", "-f", self.database, "-c", user],
                       input=password, text=True, check=True, capture_output=True)

    def auth_file(self, user, password, name="auth.conf"):
        path = f"{self.dir}/{name}"
        _write(path, f"[credentials-test]\nauthname={user}\npassword={password}\n\n"
                     "[auth-libvirt-localhost]\ncredentials=test\n\n[auth-libvirt-127.0.0.1]\ncredentials=test\n")
        return path


class SSHServer:
    """An sshd of the test's own on 127.0.0.1 (its own host key, port and authorized key for the
    current user), so `qemu+ssh://` URIs can be driven for real without touching the host's."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        self.port = free_port()
        self.key = f"{directory}/client_key"
        for path in (f"{directory}/host_key", self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
        os.rename(f"{self.key}.pub", f"{directory}/authorized_keys")
        _write(f"{directory}/sshd_config",
               f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {directory}/host_key\n"
               f"AuthorizedKeysFile {directory}/authorized_keys\nPidFile {directory}/sshd.pid\n"
               "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
               "StrictModes no\nUsePAM no\n")
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", f"{directory}/sshd_config"],
                                        stdout=subprocess.DEVNULL, stderr=open(f"{directory}/sshd.log", "w"))
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                import time
                time.sleep(0.05)
        raise RuntimeError("sshd did not start: " + open(f"{directory}/sshd.log").read())

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
