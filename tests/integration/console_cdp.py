#!/usr/bin/env python3
"""Drives the web console in headless Chromium over the DevTools protocol.

    console_cdp.py URL WORKDIR SCREENSHOT [SETTLE_SECONDS]
    console_cdp.py --token TOKEN URL WORKDIR

Starts Chromium (its profile in WORKDIR/chromium, killed on the way out,
whatever happens), opens URL (the console of a daemon on which the socket
started session 1, "from-socket", UDP), and prints one JSON object with
what the page showed at each step, for console.sh to check against the
daemon's API:

  row       the text of session 1's row, once the table lists it
  started   the form's message after a valid "Start capture"
  bad       the error shown next to the source field after a bad subnet,
            and which field errors were shown
  live      the live panel's lines after "View live" on session 1

and saves a screenshot of the whole page at SCREENSHOT, SETTLE_SECONDS
(default 2.5) after the counters first show rates (longer: more of the
rate chart). Exit status 1, with the
step and what the page held, if a step does not happen within its time.

With --token (a daemon with --http-token-file, session 1 running): the
page, loaded without the token, says it needs one; the token typed in its
field lists session 1 and follows it live (the stream authenticated by
?access_token=). Prints {"banner": ..., "row": ..., "live": [...]}.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import websocket


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({'id': self.next_id, 'method': method, 'params': params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get('id') == self.next_id:
                if 'error' in reply:
                    raise RuntimeError(f'{method}: {reply["error"]}')
                return reply.get('result', {})

    def js(self, expression):
        r = self.call('Runtime.evaluate', expression=expression, awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r:
            raise RuntimeError(f'{expression[:80]}...: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def wait(self, step, expression, timeout, show='document.body.innerText.slice(0, 2000)'):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        sys.exit(f'console_cdp: {step}: not within {timeout} s; the page shows:\n{self.js(show)}')


def start_chromium(url, workdir):
    profile = os.path.join(workdir, 'chromium')
    os.makedirs(profile, exist_ok=True)
    chromium = shutil.which('chromium') or sys.exit('console_cdp: chromium is not installed (scripts/bootstrap)')
    proc = subprocess.Popen(
        [chromium, '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
         '--disable-extensions', '--disable-background-networking', '--disable-sync', '--mute-audio',
         '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', f'--user-data-dir={profile}',
         '--window-size=1440,1180', '--hide-scrollbars', url],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, 'chromium.log'), 'w'),
        start_new_session=True)
    # For console.sh's clean-up, should this script be killed before its own.
    with open(os.path.join(workdir, 'chromium.pid'), 'w') as f:
        f.write(str(proc.pid))
    port_file = os.path.join(profile, 'DevToolsActivePort')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f'console_cdp: chromium exited with {proc.returncode}: see {workdir}/chromium.log')
        try:
            port = int(open(port_file).read().split()[0])
            pages = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=2))
            page = next(p for p in pages if p.get('type') == 'page')
            return proc, page['webSocketDebuggerUrl']
        except (OSError, ValueError, IndexError, StopIteration):
            time.sleep(0.1)
    sys.exit('console_cdp: chromium did not open its DevTools port within 20 s')


def main():
    # meson's timeout sends SIGTERM: the finally below still kills Chromium.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('console_cdp: terminated'))
    token = None
    if sys.argv[1] == '--token':
        token = sys.argv[2]
        del sys.argv[1:3]
    url, workdir = sys.argv[1:3]
    proc, ws_url = start_chromium(url, workdir)
    try:
        if token:
            run_with_token(Page(ws_url), token)
        else:
            run(Page(ws_url), sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 2.5)
    finally:
        # Its whole process group: the browser, its renderers, its GPU process.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.remove(os.path.join(workdir, 'chromium.pid'))   # gone: console.sh has nothing left to kill


def run_with_token(page, token):
    out = {}
    page.call('Runtime.enable')
    out['banner'] = page.wait('the page asks for the token', 'document.getElementById("banner")?.hidden === false && '
                              'document.getElementById("banner").textContent', 10)
    page.js(f'document.getElementById("token").value = {json.dumps(token)}')
    page.js('document.querySelector("#token-form button").click()')
    row = 'document.querySelector(\'#sessions tbody tr[data-id="1"]\')'
    out['row'] = page.wait('the sessions table lists session 1 with the token', f'{row} && {row}.innerText', 10)
    out['stored'] = page.js('sessionStorage.getItem("linecap-token")')
    page.js(f'[...{row}.querySelectorAll("button")].find(b => b.textContent === "View live").click()')
    lines = ('document.getElementById("live-lines").innerText.split("\\n").filter(l => l.length)')
    out['live'] = page.wait('the live panel shows packet lines with the token', f'{lines}.length >= 3 && {lines}', 15,
                            show='document.getElementById("live-status").textContent')
    print(json.dumps(out))


def run(page, screenshot, settle):
    out = {}
    page.call('Runtime.enable')
    row = 'document.querySelector(\'#sessions tbody tr[data-id="1"]\')'
    out['row'] = page.wait('the sessions table lists session 1',
                           f'{row} && {row}.innerText.includes("from-socket") && {row}.innerText', 10)

    # A capture started from the form, as an operator fills it in.
    fill = {
        'name': 'form-made', 'dst': '10.0.0.0/8 192.168.1.1-192.168.1.200', 'dst_ports': '53 5000-6000',
        'protocols': 'udp', 'snaplen': '128', 'count': '100000000', 'duration': '10m', 'max_bytes': '20000000000',
        'rotate_mb': '1', 'keep': '2', 'bpf': 'not port 22',
    }
    page.js('document.getElementById("f-bidirectional").checked = true')
    for name, value in fill.items():
        page.js(f'document.getElementById("f-{name}").value = {json.dumps(value)}')
    page.js('document.querySelector("#start-form button[type=submit]").click()')
    out['started'] = page.wait('the form starts a session',
                               'document.getElementById("form-message").textContent.startsWith("Session ") && '
                               'document.getElementById("form-message").textContent', 10)

    # A subnet with host bits set: the daemon's error, next to its field.
    page.js('document.getElementById("start-form").reset()')
    page.js('document.getElementById("f-name").value = "bad-subnet"')
    page.js('document.getElementById("f-src").value = "10.1.0.5/24"')
    page.js('document.querySelector("#start-form button[type=submit]").click()')
    out['bad'] = page.wait('the bad subnet gets an error next to its field',
                           'document.getElementById("err-src").textContent', 10)
    out['errors_shown'] = page.js('[...document.querySelectorAll(".field-error")].filter(e => e.textContent)'
                                  '.map(e => e.id)')
    out['src_marked'] = page.js('document.getElementById("f-src").classList.contains("invalid")')
    page.js('document.getElementById("start-form").reset()')
    page.js('document.querySelectorAll(".field-error").forEach(e => e.textContent = "");'
            'document.getElementById("f-src").classList.remove("invalid");'
            'document.getElementById("form-message").textContent = ""')

    # The live panel of session 1.
    page.js(f'[...{row}.querySelectorAll("button")].find(b => b.textContent === "View live").click()')
    lines = ('document.getElementById("live-lines").innerText.split("\\n").filter(l => l.length)')
    out['live'] = page.wait('the live panel shows packet lines', f'{lines}.length >= 12 && {lines}', 15,
                            show='document.getElementById("live-status").textContent + "\\n" + '
                                 'document.getElementById("live-lines").innerText')
    out['live_status'] = page.js('document.getElementById("live-status").textContent')
    # Two polls of the counters at least, so the chart has a line.
    page.wait('the counters panel has rates', 'document.querySelectorAll("#t-writers tbody tr").length > 0 && '
              'document.querySelector("#t-ports tbody td:nth-child(2)").textContent !== "0"', 10)
    time.sleep(settle)
    # The whole page, as a reader sees it: no field focused, the live panel at its newest line.
    page.js('document.activeElement.blur(); const l = document.getElementById("live-lines"); '
            'l.scrollTop = l.scrollHeight')
    height = page.js('document.documentElement.scrollHeight')
    page.call('Emulation.setDeviceMetricsOverride', width=1440, height=height, deviceScaleFactor=1, mobile=False)
    time.sleep(0.3)
    shot = page.call('Page.captureScreenshot', format='png')
    with open(screenshot, 'wb') as f:
        f.write(base64.b64decode(shot['data']))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
