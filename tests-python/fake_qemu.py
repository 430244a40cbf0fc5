#!/usr/bin/python3
"""A stand-in for qemu-system-x86_64 that plays a hostile QEMU and a hostile guest agent.

corrald starts it as a domain's <emulator>. It reads the monitor and channel socket paths from
the argv corrald gives QEMU, serves well-behaved QMP on the daemon's own monitor (plus a flood of
events when asked), and answers the passthrough monitors and the guest agent channel with broken
replies chosen by the command's name:

  hostile-surrogate   a string with a lone UTF-16 surrogate escape
  hostile-utf8        a string with invalid UTF-8 bytes
  hostile-deep        arrays nested 10,000 deep
  hostile-huge        a 40 MiB reply
  hostile-number      a number with 5,000 digits (valid JSON: passed on as text)
  hostile-garbage     bytes that are not JSON at all
  hostile-silent      no reply ever
  hostile-flood       100,000 events on the daemon's monitor, then a normal reply
"""
import json
import os
import socket
import sys
import threading
import time

GREETING = b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}\r\n'
daemon_monitor = []  # connections to the daemon's own monitor, for the event flood


def chardev_paths(argv):
    paths = {}
    for i, arg in enumerate(argv[:-1]):
        if arg != "-chardev":
            continue
        fields, current, value = [], "", argv[i + 1]
        j = 0
        while j < len(value):
            if value[j] == ",":
                if j + 1 < len(value) and value[j + 1] == ",":
                    current += ","
                    j += 2
                    continue
                fields.append(current)
                current = ""
            else:
                current += value[j]
            j += 1
        fields.append(current)
        options = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if "path" in options:
            paths[options.get("id")] = options["path"]
    return paths


def hostile_reply(name, ident):
    ident_json = json.dumps(ident) if ident is not None else "null"
    if name == "hostile-surrogate":
        return b'{"return": "\\ud800x", "id": ' + ident_json.encode() + b"}\r\n"
    if name == "hostile-utf8":
        return b'{"return": "\xff\xfe\xc3", "id": ' + ident_json.encode() + b"}\r\n"
    if name == "hostile-deep":
        return b'{"return": ' + b"[" * 10000 + b"]" * 10000 + b', "id": ' + ident_json.encode() + b"}\r\n"
    if name == "hostile-huge":
        return b'{"return": "' + b"x" * (40 << 20) + b'", "id": ' + ident_json.encode() + b"}\r\n"
    if name == "hostile-number":
        return b'{"return": ' + b"7" * 5000 + b', "id": ' + ident_json.encode() + b"}\r\n"
    if name == "hostile-garbage":
        return b"\x00\x01garbage}}]]\r\n"
    if name == "hostile-silent":
        return b""
    if name == "hostile-flood":
        event = b'{"event": "FAKE_EVENT", "data": {"n": 1}, "timestamp": {"seconds": 1, "microseconds": 0}}\r\n'
        for conn in list(daemon_monitor):
            try:
                conn.sendall(event * 100000)
            except OSError:
                pass
    return b'{"return": {}, "id": ' + ident_json.encode() + b"}\r\n"


def lines(conn):
    buffer = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line


def serve_monitor(conn, hostile):
    conn.sendall(GREETING)
    if not hostile:
        daemon_monitor.append(conn)
    for line in lines(conn):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        name = message.get("execute") or message.get("exec-oob")
        ident = message.get("id")
        if name == "query-status":
            reply = {"return": {"status": "running", "running": True}, "id": ident}
        elif hostile and name and name.startswith("hostile-"):
            try:
                conn.sendall(hostile_reply(name, ident))
            except OSError:
                return
            continue
        else:
            reply = {"return": {}, "id": ident}
        if name == "quit":
            conn.sendall(json.dumps(reply).encode() + b"\r\n")
            os._exit(0)
        conn.sendall(json.dumps(reply).encode() + b"\r\n")


def serve_agent(conn):
    for line in lines(conn):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        name = message.get("execute", "")
        if name == "guest-sync":
            conn.sendall(json.dumps({"return": message["arguments"]["id"]}).encode() + b"\n")
        elif name.startswith("hostile-"):
            try:
                conn.sendall(hostile_reply(name, None).replace(b', "id": null', b""))
            except OSError:
                return
        else:
            conn.sendall(b'{"return": {}}\n')


def listen(path, handler):
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)

    def loop():
        while True:
            conn, _ = server.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def main():
    paths = chardev_paths(sys.argv)
    for ident, path in paths.items():
        if ident == "charmonitor":
            continue
        elif ident and ident.startswith("charpassthrough"):
            listen(path, lambda c: serve_monitor(c, hostile=True))
        elif ident and ident.startswith("charchannel"):
            listen(path, serve_agent)
    # The daemon's monitor last: corrald connects as soon as it appears.
    listen(paths["charmonitor"], lambda c: serve_monitor(c, hostile=False))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
