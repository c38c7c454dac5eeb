"""The Python example app's web process: answers every GET with JSON about its packages."""
import http.server
import json
import os
import sys

import fastsum
import idna
import six

VERSION = "@VERSION@"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "fastsum": fastsum.add(2, 3),
            "six": six.__version__,
            "idna": idna.__version__,
            "python": sys.executable,
            "version": VERSION,
        }).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print(f"web {VERSION} listening on {os.environ['PORT']}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
