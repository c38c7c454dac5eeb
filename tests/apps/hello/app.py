"""The example app's web process: answers every GET with a greeting and the add-ons it sees."""
import http.server
import json
import os
import socket


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        addons = sorted(k for k in os.environ if k.endswith("_URL"))
        body = json.dumps({
            "greeting": os.environ.get("GREETING", "hello"),
            "dyno": os.environ.get("DYNO"),
            "host": socket.gethostname(),
            "addons": addons,
        }).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
