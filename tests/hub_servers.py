"""Servers the hub tests start on 127.0.0.1: a threaded HTTP file server that honours
Range requests and can misbehave on demand (drop a connection mid-file, flip a byte,
stall, forget a file)."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Behaviour:
    def __init__(self) -> None:
        self.drop_after: dict[str, int] = {}    # path -> bytes sent before the connection drops (once)
        self.flip: set[str] = set()             # paths served with one byte flipped
        self.missing: set[str] = set()          # paths answered with 404
        self.delay = 0.0                        # seconds to stall before the body
        self.ranges = True                      # honour Range headers
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()


def _handler(root: Path, behaviour: Behaviour):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            return None

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            relative = urllib.parse.unquote(urllib.parse.urlparse(self.path).path).lstrip("/")
            with behaviour.lock:
                behaviour.requests.append((relative, self.headers.get("Range")))
            path = root / relative
            if relative in behaviour.missing or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = bytearray(path.read_bytes())
            if relative in behaviour.flip and data:
                data[len(data) // 2] ^= 0x01
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and behaviour.ranges:
                start, status = int(match[1]), 206
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            payload = bytes(data[start:])
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if behaviour.delay:
                time.sleep(behaviour.delay)
            with behaviour.lock:
                cut = behaviour.drop_after.pop(relative, None)
            if cut is not None:
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

    return Handler


class FileServer:
    """`with FileServer(folder) as server:` serves `folder` at `server.url`."""

    def __init__(self, root: Path):
        self.behaviour = Behaviour()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Path(root), self.behaviour))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
