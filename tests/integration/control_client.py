#!/usr/bin/env python3
"""Raw clients for linecap's control socket, for the integration tests.

Each subcommand throws one kind of client at the daemon and checks what a
well-behaved daemon must do; it prints what it saw and exits non-zero on a
failure. Only the standard library, so nothing to install.
"""
import json
import os
import socket
import sys
import time


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def call(lines, raw):
    lines.sock.sendall(raw if isinstance(raw, bytes) else raw.encode())
    return lines.read()


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def expect_error(lines, raw, words):
    reply = call(lines, raw)
    if reply.get("ok") is not False or not all(w in reply.get("error", "") for w in words):
        fail(f"{raw[:60]!r}: expected an error mentioning {words}, got {reply}")
    print(f"ok: {raw[:50]!r} -> {reply['error']}")


def expect_list_works(path, within_s=2.0):
    start = time.monotonic()
    lines = Lines(connect(path, within_s))
    reply = call(lines, '{"cmd":"list"}\n')
    if reply.get("ok") is not True:
        fail(f"list failed: {reply}")
    lines.sock.close()
    return time.monotonic() - start


def bad_requests(path):
    """Every kind of bad request on one connection, which stays usable."""
    lines = Lines(connect(path))
    expect_error(lines, "this is not json\n", ["not valid JSON"])
    expect_error(lines, "[1,2,3]\n", ["expected a JSON object"])
    expect_error(lines, '{"id":"1"}\n', ['"cmd" is missing'])
    expect_error(lines, '{"cmd":"launch"}\n', ["unknown command", "launch"])
    expect_error(lines, '{"cmd":7}\n', ['"cmd": expected a string'])
    expect_error(lines, '{"cmd":"list","verbose":true}\n', ["unknown field", "verbose"])
    expect_error(lines, '{"cmd":"stop"}\n', ['"id" is missing'])
    expect_error(lines, '{"cmd":"stop","id":[1]}\n', ['"id": expected a session id'])
    expect_error(lines, '{"cmd":"show","id":"../../etc"}\n', ["neither a session id (a number, as start and list give) nor a session name"])
    expect_error(lines, '{"cmd":"stop","id":"999999"}\n', ["no session has the id or name 999999"])
    expect_error(lines, '{"cmd":"start"}\n', ['"spec" is missing'])
    expect_error(lines, '{"cmd":"start","spec":{"name":"../../etc/x"}}\n', ["name"])
    expect_error(lines, '{"cmd":"start","spec":{"match":[{"src":["10.0.0.1/8"]}]}}\n', ["host bits"])
    expect_error(lines, '{"cmd":"start","spec":{"bpf":"port and and"}}\n', ["bpf"])
    expect_error(lines, '{"cmd":"start","spec":{"snaplen":"big"}}\n', ["snaplen"])
    expect_error(lines, '{"cmd":"start","spec":{"colour":"red"}}\n', ["colour"])
    # Over 64 KiB: refused, skipped to its newline, the connection goes on.
    expect_error(lines, '{"cmd":"list","pad":"' + "x" * 70000 + '"}\n', ["65536"])
    reply = call(lines, '{"cmd":"list"}\n')
    if reply.get("ok") is not True:
        fail(f"the connection is not usable after bad requests: {reply}")
    # Several requests in one write, and one split over several writes.
    lines.sock.sendall(b'{"cmd":"list"}\n{"cmd":"stats"}\n{"cmd":"li')
    time.sleep(0.2)
    lines.sock.sendall(b'st"}\n')
    for _ in range(3):
        if lines.read().get("ok") is not True:
            fail("pipelined requests failed")
    print("ok: the connection is usable after every bad request")


def stalled_clients(path, partial_timeout_s):
    """Silent, half-line and non-reading clients never hold up others."""
    silent = connect(path)
    half = connect(path, partial_timeout_s + 10)
    half.sendall(b'{"cmd":"li')
    # A client that asks for a lot and never reads.
    greedy = connect(path)
    greedy.sendall(b'{"cmd":"stats"}\n' * 2000)
    # One that asks and goes away before the reply.
    gone = connect(path)
    gone.sendall(b'{"cmd":"stats"}\n' * 100)
    gone.close()
    for i in range(5):
        took = expect_list_works(path)
        if took > 1.5:
            fail(f"list took {took:.2f} s with stalled clients around")
    print("ok: other clients are served while three stall and one left")
    # The half line is answered with an error and closed after the timeout.
    start = time.monotonic()
    lines = Lines(half)
    try:
        reply = lines.read()
        if "half a request" not in reply.get("error", ""):
            fail(f"unexpected reply to a stalled half line: {reply}")
        lines.read()
        fail("the stalled client was not closed")
    except EOFError:
        pass
    waited = time.monotonic() - start
    if waited > partial_timeout_s + 5:
        fail(f"the stalled client was closed only after {waited:.1f} s")
    print(f"ok: the half-line client was closed after {waited:.1f} s")
    silent.close()
    greedy.close()


def half_closed(path):
    """A client that sends its request and shuts its side gets the reply, then EOF."""
    s = connect(path)
    s.sendall(b'{"cmd":"list"}\n')
    s.shutdown(socket.SHUT_WR)
    lines = Lines(s)
    if lines.read().get("ok") is not True:
        fail("a half-closed client got no reply")
    try:
        lines.read()
        fail("a half-closed client was not closed after its reply")
    except EOFError:
        pass
    print("ok: a half-closed client gets its reply, then the connection closes")


def ordered(path, session_id, output):
    """A merge's reply comes before the reply to the request sent after it.
    The output file goes with the merge request, as linecapctl sends it."""
    s = connect(path, 60)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    socket.send_fds(s, [('{"cmd":"merge","id":"%s"}\n{"cmd":"list"}\n' % session_id).encode()], [fd])
    os.close(fd)
    s.shutdown(socket.SHUT_WR)   # and the merge reply must still arrive
    lines = Lines(s)
    first, second = lines.read(), lines.read()
    if "packets" not in first or "sessions" not in second:
        fail(f"replies out of order: {first} then {second}")
    print("ok: merge then list on one connection: replies in order")


def many_clients(path, limit):
    socks = [connect(path) for _ in range(limit)]
    time.sleep(0.3)
    extra = Lines(connect(path))
    try:
        reply = extra.read()
        if "too many clients" not in reply.get("error", ""):
            fail(f"client {limit + 1} got {reply}")
    except EOFError:
        fail("client over the limit was closed without a word")
    for s in socks:
        s.close()
    time.sleep(0.3)
    expect_list_works(path)
    print(f"ok: client {limit + 1} is told there are too many; after they leave, service goes on")


def flood(path, count):
    """One client pipelines `count` requests as fast as it can while reading
    the replies: every one is answered, in order, and others are still served."""
    import threading
    s = connect(path, 60)
    lines = Lines(s)
    replies = []

    def reader():
        try:
            for _ in range(count):
                replies.append(lines.read())
        except (EOFError, OSError) as e:
            replies.append({"reader_error": str(e)})

    t = threading.Thread(target=reader)
    t.start()
    request = b'{"cmd":"list"}\n{"cmd":"bogus"}\n'
    s.sendall(request * (count // 2))
    took = expect_list_works(path, within_s=5.0)
    t.join(120)
    if len(replies) != count or any("reader_error" in r for r in replies):
        fail(f"flood: {len(replies)} of {count} replies; last {replies[-1:]}")
    if not all(r.get("ok") is (i % 2 == 0) for i, r in enumerate(replies)):
        fail("flood: replies out of order or wrong")
    print(f"ok: {count} pipelined requests answered in order; another client served in {took:.2f} s meanwhile")


def cycles(path, count):
    """start, stop and delete a session `count` times over one connection."""
    lines = Lines(connect(path))
    spec = {"name": "cycle", "match": [{"protocols": ["icmpv6"]}], "snaplen": 64}
    for i in range(count):
        started = call(lines, json.dumps({"cmd": "start", "spec": spec}) + "\n")
        if not started.get("ok"):
            fail(f"cycle {i}: start: {started}")
        sid = started["id"]
        for cmd in ("stop", "delete"):
            reply = call(lines, json.dumps({"cmd": cmd, "id": sid}) + "\n")
            if not reply.get("ok"):
                fail(f"cycle {i}: {cmd} {sid}: {reply}")
    print(f"{count} start/stop/delete cycles")
def hostile_names(path, outside):
    """Session names and ids that try to leave --out-root are refused, each
    with an error naming the problem; nothing appears in `outside`."""
    lines = Lines(connect(path))
    names = ["../escape", "../../" + outside.lstrip("/"), outside, "a/b", "/", ".", "..",
             "x\u0000y", "a" * 65, "b" * 5000, "", "x y", "caf\u00e9", "x\ny"]
    for name in names:
        raw = json.dumps({"cmd": "start", "spec": {"name": name}}) + "\n"   # NUL, newline: JSON escapes
        reply = call(lines, raw)
        error = reply.get("error", "")
        if reply.get("ok") is not False or "name" not in error or len(error) > 300 or any(c < " " for c in error):
            fail(f"start with name {name[:40]!r}: expected a short, printable refusal naming the name, got {reply}")
        print(f"ok: name {name[:30]!r} -> {reply['error'][:100]}")
    for cmd in ["show", "stop", "files", "merge", "delete", "watch"]:
        for bad_id in ["../1", "1/..", "/etc", "1\u0000", "-1", "1e3", "99999999999999999999999"]:
            reply = call(lines, json.dumps({"cmd": cmd, "id": bad_id}) + "\n")
            if reply.get("ok") is not False or not reply.get("error"):
                fail(f"{cmd} {bad_id!r}: expected a refusal, got {reply}")
    print("ok: ids with paths in them are refused by every command")
    lines.sock.close()


def main():
    what, path = sys.argv[1], sys.argv[2]
    if what == "bad-requests":
        bad_requests(path)
    elif what == "stalled":
        stalled_clients(path, float(sys.argv[3]))
    elif what == "half-closed":
        half_closed(path)
    elif what == "ordered":
        ordered(path, sys.argv[3], sys.argv[4])
    elif what == "many":
        many_clients(path, int(sys.argv[3]))
    elif what == "flood":
        flood(path, int(sys.argv[3]))
    elif what == "cycles":
        cycles(path, int(sys.argv[3]))
    elif what == "hostile-names":
        hostile_names(path, sys.argv[3])
    elif what == "call":
        print(json.dumps(call(Lines(connect(path)), sys.argv[3] + "\n")))
    else:
        fail(f"unknown test {what}")


if __name__ == "__main__":
    main()
