#!/usr/bin/env python3
"""Serves the web build (target/web/) on 127.0.0.1: the app at /, WebAssembly as
application/wasm, precompressed .gz files to browsers that take gzip, and cache headers:
files whose names carry their content hash (the model) are cached for a year, everything
else is revalidated on each load (Last-Modified / If-Modified-Since).

usage: python3 web/serve.py [--dir target/web] [--port 8080]   (port 0: any free port)
Prints `serving http://127.0.0.1:PORT/` once listening, then one line per request.
"""

import argparse
import http.server
import os
import re
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".safetensors": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

# name.<16 hex digits>.ext: the file changes only together with its name.
HASHED = re.compile(r"\.[0-9a-f]{16}\.[a-z]+$")


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def send_head(self):
        path = self.translate_path(self.path)
        gz = path + ".gz"
        self._gzip = (
            "gzip" in self.headers.get("Accept-Encoding", "")
            and os.path.isfile(path)
            and os.path.isfile(gz)
        )
        if not self._gzip:
            return super().send_head()
        # The precompressed file, with the original's type.
        ctype = self.guess_type(path)
        f = open(gz, "rb")
        st = os.fstat(f.fileno())
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(st.st_size))
        self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
        self.end_headers()
        return f

    def end_headers(self):
        path = self.path.split("?", 1)[0]
        if HASHED.search(path):
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
        else:
            self.send_header("Cache-Control", "no-cache")
        self.send_header("Vary", "Accept-Encoding")
        # The page runs only its own code; it fetches only its own files and, with
        # ?model=https://..., that model file. It sends nothing anywhere.
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
            "connect-src 'self' https: blob: data:",
        )
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="target/web")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.dir, "index.html")):
        sys.exit(f"error: {a.dir}/index.html is missing: build first (bash scripts/web.sh build)")
    handler = lambda *args: Handler(*args, directory=a.dir)  # noqa: E731
    with http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler) as srv:
        print(f"serving http://127.0.0.1:{srv.server_address[1]}/", flush=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
