#!/usr/bin/env python3
"""A small HTTP server for test disks: serves the files under ROOT on 127.0.0.1:PORT with the
byte ranges QEMU's curl block driver asks for (HEAD for the size, GET with Range), and appends
each request's method, path and Cookie header to ROOT/requests.log. With USER:PASSWORD, every
request must carry them (HTTP Basic authentication) or gets 401.

Usage: range-http-server.py ROOT PORT [USER:PASSWORD]
"""
import base64
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT = sys.argv[1], int(sys.argv[2])
CREDENTIALS = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def file(self):
        if CREDENTIALS is not None:
            expected = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
            if self.headers.get("Authorization") != expected:
                with open(os.path.join(ROOT, "requests.log"), "a") as log:
                    log.write(f"{self.command} {self.path} refused\n")
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="disks"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
        path = os.path.normpath(os.path.join(ROOT, self.path.split("?", 1)[0].lstrip("/")))
        if not path.startswith(os.path.abspath(ROOT) + os.sep) or not os.path.isfile(path):
            return None
        with open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(f"{self.command} {self.path} cookie={self.headers.get('Cookie', '')}\n")
        return path

    def served_path(self):
        """The file asked for, or None once an error has been answered (401, 404)."""
        path = self.file()
        if path is None:
            self.send_error(404)
        return path or None

    def do_HEAD(self):
        path = self.served_path()
        if path is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        path = self.served_path()
        if path is None:
            return
        size = os.path.getsize(path)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = (int(match.group(1)), int(match.group(2) or size - 1)) if match else (0, size - 1)
        end = min(end, size - 1)
        with open(path, "rb") as image:
            image.seek(start)
            body = image.read(end - start + 1)
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
