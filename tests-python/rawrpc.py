"""A raw libvirt RPC client: frames built byte by byte, so the tests see the daemon's own answers
(libvirt's client refuses many calls before sending them). Argument bodies are encoded from
Protocol/procedures.def, with harmless values."""
import pathlib
import re
import socket
import struct
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
REMOTE, QEMU = 0x20008086, 0x20008087
CALL, REPLY = 0, 1
OK, ERROR = 0, 1
PROGRAMS = {"remote": REMOTE, "qemu": QEMU}


def xdr_string(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)


def xdr_domain(name="corral-no-such-domain", uuid=b"\0" * 16, dom_id=-1):
    return xdr_string(name) + uuid + struct.pack(">i", dom_id)


def encode_default(field_type):
    """Harmless bytes for one field of the given procedures.def type."""
    if field_type.endswith("?"):
        return struct.pack(">I", 0)
    if field_type.startswith("[") or field_type.startswith("opaque<") or field_type.startswith("chars<"):
        return struct.pack(">I", 0)
    if field_type in ("Int32", "UInt32", "UInt8", "UInt16"):
        return struct.pack(">I", 0)
    if field_type in ("Int64", "UInt64"):
        return struct.pack(">Q", 0)
    if field_type == "String":
        return xdr_string("x")
    if field_type == "UUID":
        return b"\0" * 16
    if field_type == "RemoteDomain":
        return xdr_domain()
    if field_type == "RemoteDomainSnapshot":
        return xdr_string("corral-no-such-snapshot") + xdr_domain()
    if field_type in ("RemoteStoragePool", "RemoteNetwork"):
        return xdr_string("corral-no-such-object") + b"\0" * 16
    if field_type == "RemoteNetworkPort":
        return xdr_string("corral-no-such-object") + b"\0" * 16 + b"\0" * 16
    if field_type == "RemoteSecret":
        return b"\0" * 16 + struct.pack(">i", 0) + xdr_string("x")
    if field_type == "GraphicsAddress":
        return struct.pack(">I", 0) + xdr_string("x") + xdr_string("x")
    if field_type == "RemoteStorageVolume":
        return xdr_string("corral-no-such-pool") + xdr_string("x") + xdr_string("x")
    raise ValueError(f"no default for {field_type}")


def procedures():
    """(program name, number, name, access, argument types) for every line of procedures.def."""
    out = []
    for line in (ROOT / "Protocol" / "procedures.def").read_text().splitlines():
        m = re.match(r"proc (\w+) (\d+) (\w+) (\S+) \((.*?)\) ->", line)
        if not m:
            continue
        args = [tuple(part.strip() for part in a.split(":", 1)) for a in m.group(5).split(",") if a.strip()]
        out.append((m.group(1), int(m.group(2)), m.group(3), m.group(4), args))
    return out


def default_body(args):
    """Harmless arguments: zeros, empty or absent values, "x" for strings, a domain that does not
    exist; a pid of 1 (libvirtd checks a pid's range before anything else)."""
    return b"".join(struct.pack(">I", 1) if name == "pidValue" else encode_default(t) for name, t in args)


class RawClient:
    def __init__(self, path, timeout=10):
        """`path` is a Unix socket's path, or a (host, port) pair for TCP."""
        family = socket.AF_INET if isinstance(path, tuple) else socket.AF_UNIX
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        for attempt in range(200):
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:  # the listen backlog is full for a moment
                time.sleep(0.01)
        else:
            raise TimeoutError(f"could not connect to {path}")
        self.serial = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def frame(self, program, procedure, body=b"", msg_type=CALL, serial=None, status=OK):
        if serial is None:
            self.serial += 1
            serial = self.serial
        header = struct.pack(">IIiiIi", program, 1, procedure, msg_type, serial, status)
        return struct.pack(">I", 4 + len(header) + len(body)) + header + body

    def send(self, program, procedure, body=b""):
        self.send_raw(self.frame(program, procedure, body))
        return self.serial

    def receive(self):
        """(header fields, body) of the next packet; None when the daemon closed."""
        length_bytes = self._read(4)
        if length_bytes is None:
            return None
        (length,) = struct.unpack(">I", length_bytes)
        data = self._read(length - 4)
        if data is None:
            return None
        program, version, procedure, msg_type, serial, status = struct.unpack(">IIiiIi", data[:24])
        return dict(program=program, procedure=procedure, type=msg_type, serial=serial, status=status), data[24:]

    def _read(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def call(self, program, procedure, body=b""):
        serial = self.send(program, procedure, body)
        while True:
            packet = self.receive()
            if packet is None:
                return None
            header, payload = packet
            if header["type"] == REPLY and header["serial"] == serial:
                return header, payload

    def open(self, read_only=False):
        # As libvirt's client does: AUTH_LIST first (libvirtd counts a client with auth "none"
        # as authenticated only after it), then CONNECT_OPEN.
        listed = self.call(REMOTE, 66)
        assert listed is not None and listed[0]["status"] == OK, listed
        reply = self.call(REMOTE, 1, struct.pack(">I", 1) + xdr_string("qemu:///system") + struct.pack(">I", 1 if read_only else 0))
        assert reply is not None and reply[0]["status"] == OK, reply
        return self

    def close(self):
        self.sock.close()


def parse_error(payload):
    """(code, domain, message) of a remote_error."""
    code, domain = struct.unpack(">ii", payload[:8])
    (present,) = struct.unpack(">I", payload[8:12])
    message = None
    if present:
        (length,) = struct.unpack(">I", payload[12:16])
        message = payload[16:16 + length].decode(errors="replace")
    return code, domain, message


def read_string(payload, offset=0):
    (length,) = struct.unpack(">I", payload[offset:offset + 4])
    return payload[offset + 4:offset + 4 + length].decode(errors="replace"), offset + 4 + ((length + 3) // 4) * 4
