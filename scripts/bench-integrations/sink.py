# The receiver of scripts/bench-integrations/run.sh.
# A receiver for the cost bench: answers 201 to every POST (push service and webhook receiver alike).
import sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
count = {"push": 0, "hook": 0, "bytes": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0")); body = self.rfile.read(n)
        count["hook" if self.path.startswith("/hook") else "push"] += 1; count["bytes"] += n
        self.send_response(201); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        b = repr(count).encode(); self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
