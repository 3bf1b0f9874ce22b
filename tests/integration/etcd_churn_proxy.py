#!/usr/bin/env python3
"""An HTTP proxy in front of a real etcd that writes a key again just before
it forwards each transaction: another writer's change landing between a
client's read and its transaction, every time or only the first time.

fleet.sh puts it between `linecapctl fleet rm` and etcd, to see rm's
transaction (its statuses unchanged since the read) fail, rm try again,
and give up after its last attempt with the message that says so.

    etcd_churn_proxy.py ETCD_URL KEY always|once PORT_FILE COUNT_FILE

Listens on a free loopback port, written to PORT_FILE once it listens;
COUNT_FILE holds the number of transactions forwarded so far. KEY's value
is written back unchanged (a put of the same value still moves its
mod_revision, which is what rm's compare looks at). Runs until killed.
"""
import base64
import http.client
import http.server
import json
import sys
import urllib.parse

etcd_url, key, mode, port_file, count_file = sys.argv[1:6]
etcd = urllib.parse.urlsplit(etcd_url)
transactions = 0


def etcd_call(method, path, body, headers):
    conn = http.client.HTTPConnection(etcd.hostname, etcd.port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, reply.getheaders(), data


def b64(text):
    return base64.b64encode(text.encode()).decode()


def touch_key():
    """Puts KEY's value back: its mod_revision moves past any read before.
    (The put takes no lease: KEY outlives its node's lease. fleet.sh's
    rm deletes it.) "" or what failed."""
    _, _, data = etcd_call("POST", "/v3/kv/range", json.dumps({"key": b64(key)}), {"Content-Type": "application/json"})
    kvs = json.loads(data).get("kvs", [])
    if not kvs:
        return f"etcd_churn_proxy: {key} is not in etcd: nothing to change"
    put = {"key": b64(key), "value": kvs[0].get("value", "")}
    status, _, data = etcd_call("POST", "/v3/kv/put", json.dumps(put), {"Content-Type": "application/json"})
    if status != 200:
        return f"etcd_churn_proxy: the put of {key} failed: {status} {data!r}"
    return ""


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        global transactions
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v3/kv/txn":
            # A failure here is said on stderr (fleet.sh shows it) and
            # answered 502, not raised: a handler thread's exit is lost.
            failed = touch_key() if mode == "always" or transactions == 0 else ""
            if failed:
                print(failed, file=sys.stderr, flush=True)
                self.send_response(502)
                self.send_header("Content-Length", str(len(failed)))
                self.end_headers()
                self.wfile.write(failed.encode())
                return
            transactions += 1
            with open(count_file, "w") as f:
                f.write(f"{transactions}\n")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        status, reply_headers, data = etcd_call(self.command, self.path, body, headers)
        self.send_response(status)
        for k, v in reply_headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(count_file, "w") as f:
    f.write("0\n")
with open(port_file, "w") as f:
    f.write(f"{server.server_address[1]}\n")
server.serve_forever()
