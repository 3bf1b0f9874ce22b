#!/usr/bin/env python3
"""GET /api/v1/sessions/{id}/live under load, with raw sockets.

    live_limits.py PORT BUSY QUIET...
    live_limits.py --stall SECONDS PORT SESSION

BUSY is a running session whose packets flow; QUIET are running sessions
(eight at least). Checks, and exits 1 naming the first that fails:

  - 20 idle connections and 10 live streams open (4 on BUSY, read by
    nobody after their first event, so they stall), GET /api/v1/sessions
    answers within a second, three times;
  - a 5th stream on BUSY: 503 with Retry-After: 5, the error naming the per-session limit;
  - streams up to 32 in all, then a 33rd on a session with none: 503, the
    error naming the total;
  - once they are all closed, BUSY takes a stream again (the closed ones
    were forgotten), within 3 s.

With --stall: a client with a small receive buffer opens SESSION's stream
(its packets flowing), reads its first event and then nothing for SECONDS;
then the server must have closed its end (ss shows it past ESTABLISHED
within 3 s), and what is left to read must end (EOF or a reset).
"""

import json
import socket
import subprocess
import sys
import time

STALL = None
if sys.argv[1] == '--stall':
    STALL = float(sys.argv[2])
    del sys.argv[1:3]
PORT = int(sys.argv[1])
BUSY = sys.argv[2]
QUIET = sys.argv[3:]
if STALL is None and len(QUIET) < 8:
    sys.exit('live_limits: give eight quiet sessions at least')


def fail(message):
    sys.exit(f'live_limits: {message}')


refusal_headers = {}   # session -> the headers of its last refused stream


def open_live(session, receive_buffer=None):
    """A live stream: returns (status, socket or None, the headers and what came after them)."""
    s = socket.socket()
    if receive_buffer:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    s.settimeout(5)
    s.connect(('127.0.0.1', PORT))
    s.sendall(f'GET /api/v1/sessions/{session}/live HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'.encode())
    got = b''
    while b'\r\n\r\n' not in got:
        chunk = s.recv(4096)
        if not chunk:
            fail(f'session {session}: the connection closed before the headers: {got!r}')
        got += chunk
    status = int(got.split(b' ', 2)[1])
    if status != 200:
        # The whole error body (Content-Length).
        head, body = got.split(b'\r\n\r\n', 1)
        length = int([h.split(b':')[1] for h in head.split(b'\r\n') if h.lower().startswith(b'content-length:')][0])
        while len(body) < length:
            body += s.recv(4096)
        s.close()
        refusal_headers[session] = head.decode(errors='replace').lower()
        return status, None, body.decode()
    # The first event (watching) arrives at once.
    while b'event: watching' not in got:
        chunk = s.recv(4096)
        if not chunk:
            fail(f'session {session}: the stream closed before its first event: {got!r}')
        got += chunk
    head = got.split(b'\r\n\r\n', 1)[0].decode().lower()
    if 'content-type: text/event-stream' not in head or 'transfer-encoding: chunked' not in head:
        fail(f'session {session}: a live stream with headers {head!r}')
    return status, s, got.decode(errors='replace')


def sessions_list_time():
    start = time.monotonic()
    s = socket.create_connection(('127.0.0.1', PORT), timeout=5)
    s.sendall(b'GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    got = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    if not got.startswith(b'HTTP/1.1 200'):
        fail(f'GET /api/v1/sessions: {got[:200]!r}')
    return time.monotonic() - start


def server_side_state(client):
    """The TCP state of the server's end of `client`'s connection (ss), or '' once it is gone."""
    local_port = client.getsockname()[1]
    try:
        out = subprocess.run(['ss', '-tnH', 'state', 'all', f'( sport = :{PORT} and dport = :{local_port} )'],
                             capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f'ss (iproute2, which scripts/bootstrap installs) cannot list the connection: {e}')
    return out[0] if out else ''


def stall():
    status, s, text = open_live(BUSY, receive_buffer=4096)
    if status != 200:
        fail(f'the stalled client: HTTP {status} {text}')
    time.sleep(STALL)
    # The server's end must have closed by now (its write timeout). Seen
    # from the server, not by reading: the client's tiny window has made
    # the server probe it at TCP's backed-off intervals (6.4 s and more by
    # now), so the last bytes and the FIN may take that long to arrive.
    deadline = time.monotonic() + 3
    while (state := server_side_state(s)) in ('ESTAB', 'CLOSE-WAIT') and time.monotonic() < deadline:
        time.sleep(0.2)
    if state in ('ESTAB', 'CLOSE-WAIT'):
        fail(f'a client that read nothing for {STALL:.0f} s is still served: the server\'s end is {state}')
    # What is left to read then ends (the FIN or a reset), however slowly it comes.
    s.settimeout(1)
    deadline = time.monotonic() + 30
    read = 0
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            continue
        if not chunk:
            break
        read += len(chunk)
    else:
        fail(f'a client that read nothing for {STALL:.0f} s: the server\'s end is {state or "closed"}, '
             f'but its stream has not ended 30 s later ({read} bytes read)')
    print(f'a client that read nothing for {STALL:.0f} s was closed (the server\'s end {state or "gone"}); '
          f'{read} bytes were left to read', flush=True)
    sys.exit(0)


if STALL is not None:
    stall()

idle = [socket.create_connection(('127.0.0.1', PORT)) for _ in range(20)]
streams = []
plan = [BUSY] * 4 + [QUIET[0]] * 4 + [QUIET[1]] * 2
for session in plan:
    status, s, text = open_live(session)
    if status != 200:
        fail(f'stream {len(streams) + 1} (session {session}): HTTP {status}: {text}')
    streams.append(s)
time.sleep(1)   # BUSY's four streams fill their sockets meanwhile: nobody reads them
for i in range(3):
    took = sessions_list_time()
    if took >= 1:
        fail(f'GET /api/v1/sessions took {took:.2f} s beside 20 idle connections and 10 live streams')
    print(f'GET /api/v1/sessions beside 20 idle connections and 10 live streams: {took * 1000:.0f} ms', flush=True)

status, _, text = open_live(BUSY)
want = f'4 live streams follow session {BUSY} already, the most per session'
if status != 503 or want not in json.loads(text).get('error', ''):
    fail(f'a 5th stream on session {BUSY}: HTTP {status} {text}, expected 503 saying "{want}"')
if '\r\nretry-after: 5\r\n' not in refusal_headers[BUSY] + '\r\n':
    fail(f'a 5th stream on session {BUSY}: 503 without Retry-After: 5: {refusal_headers[BUSY]!r}')
print(f'a 5th stream on session {BUSY}: 503 {text}', flush=True)

for session in QUIET[1:2] * 2 + [q for q in QUIET[2:] for _ in range(4)]:
    if len(streams) == 32:
        break
    status, s, text = open_live(session)
    if status != 200:
        fail(f'stream {len(streams) + 1} (session {session}): HTTP {status}: {text}')
    streams.append(s)
if len(streams) != 32:
    fail(f'only {len(streams)} streams opened: give more quiet sessions')
status, _, text = open_live(QUIET[-1])   # none of the 32 follows it
want = '32 live streams are open, the most linecap serves at once'
if status != 503 or want not in json.loads(text).get('error', ''):
    fail(f'a 33rd stream: HTTP {status} {text}, expected 503 saying "{want}"')
if '\r\nretry-after: 5\r\n' not in refusal_headers[QUIET[-1]] + '\r\n':
    fail(f'a 33rd stream: 503 without Retry-After: 5: {refusal_headers[QUIET[-1]]!r}')
print(f'a 33rd stream: 503 {text}', flush=True)
took = sessions_list_time()
if took >= 1:
    fail(f'GET /api/v1/sessions took {took:.2f} s beside 32 live streams')

for s in streams + idle:
    s.close()
deadline = time.monotonic() + 3
while True:
    status, s, text = open_live(BUSY)
    if status == 200:
        s.close()
        break
    if time.monotonic() > deadline:
        fail(f'3 s after its streams closed, session {BUSY} still refuses one: HTTP {status} {text}')
    time.sleep(0.2)
print('streams closed are forgotten: a new one is taken', flush=True)
