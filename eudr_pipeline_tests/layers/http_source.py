"""A local HTTP server with byte ranges and directory listings, serving a folder: what a
layer source behind https:// looks like to fsspec (listing) and GDAL's /vsicurl/ (ranges)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
from functools import partial
from pathlib import Path


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def end_headers(self) -> None:
        if not getattr(self, "_ranged", False):
            self.send_header("Accept-Ranges", "bytes")
        self._ranged = False
        super().end_headers()

    def send_head(self):
        path = self.translate_path(self.path)
        rng = self.headers.get("Range")
        if os.path.isdir(path) or not rng or not os.path.isfile(path):
            return super().send_head()
        m = re.match(r"bytes=(\d+)-(\d*)", rng)
        size = os.path.getsize(path)
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self._ranged = True
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile):
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)
        self._remaining = None


def serve(folder: Path) -> tuple[str, subprocess.Popen]:
    """Serve ``folder`` on 127.0.0.1 from another process (GDAL holds the GIL while it
    opens a file, so a server thread in the reading process would deadlock): (base URL,
    process; terminate it when done)."""
    import socket
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, str(folder), str(port)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/", timeout=1).read(1)
            return base, proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the test HTTP server did not start")


if __name__ == "__main__":
    import sys

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), partial(RangeHandler, directory=sys.argv[1]))
    server.serve_forever()
