"""A webhook receiver for the demo: answers every POST with 200 `ok` and appends its JSON body,
one per line, to the log file given. Usage: receiver.py PORT LOGFILE, or receiver.py --print
LOGFILE to show what was received, a line per notification."""
import http.server
import json
import sys

if sys.argv[1] == "--print":
    for line in open(sys.argv[2]):
        n = json.loads(line)
        print("  %s  %-22s %s" % (n["at"][11:19], n["event"], n["summary"]))
    sys.exit(0)

PORT, LOG = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(LOG, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
