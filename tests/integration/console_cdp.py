#!/usr/bin/env python3
"""Drives the web console in headless Chromium over the DevTools protocol.

    console_cdp.py URL WORKDIR SCREENSHOT [SETTLE_SECONDS]
    console_cdp.py --token TOKEN URL WORKDIR
    console_cdp.py --fleet URL WORKDIR

Starts Chromium (its profile in WORKDIR/chromium, killed on the way out,
whatever happens), opens URL (the console of a daemon on which the socket
started session 1, "from-socket", UDP), and prints one JSON object with
what the page showed at each step, for console.sh to check against the
daemon's API:

  row       the text of session 1's row, once the table lists it
  started   the form's message after a valid "Start capture"
  bad       the error shown next to the source field after a bad subnet,
            and which field errors were shown
  host      a capture of one host (10.7.64.56, both directions) as a new
            user makes it: started from the form, "View live", "Stop" (the
            row once ended, how long it took, the API's session then),
            "PCAP" (the file the browser saved, Browser.setDownloadBehavior;
            linecapctl merge of the same session beside it, and show)
  deleted   what the confirmation said on "Delete" of that session, accepted
            (Page.handleJavaScriptDialog) once the row has left the table
  running_1_actions  the buttons of running session 1 (no Delete)
  live      the live panel's lines after "View live" on session 1

and saves a screenshot of the whole page at SCREENSHOT, SETTLE_SECONDS
(default 2.5) after the counters first show rates (longer: more of the
rate chart). Exit status 1, with the
step and what the page held, if a step does not happen within its time.

With --token (a daemon with --http-token-file, session 1 running): the
page, loaded without the token, says it needs one; the token typed in its
field lists session 1 and follows it live (the stream authenticated by
?access_token=), then captures one host as above but for Delete (the PCAP
fetched with the token, saved from a blob: URL). Prints {"banner": ...,
"row": ..., "live": [...], "host": {...}}. linecapctl (LINECAPCTL) is run
on the socket LINECAP_SOCK.

With --fleet (the console of a node of a fleet, fleet.sh): once the fleet
panel shows a fleet session, prints the panel as the page shows it:
{"hidden": false, "nodes": {NAME: [cells]}, "sessions": {ID: [cells]},
"links": [[ID, href of its PCAP]]}.
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
    """A DevTools connection: a page's, or the browser's (Browser.* and its events)."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0
        self.events = []   # events read while waiting for a reply, for event()
        self.replies = {}  # replies read while waiting for another's or for an event

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({'id': self.next_id, 'method': method, 'params': params}))
        return self.next_id

    def reply(self, call_id, method=''):
        while call_id not in self.replies:
            self.keep(json.loads(self.ws.recv()))
        reply = self.replies.pop(call_id)
        if 'error' in reply:
            raise RuntimeError(f'{method}: {reply["error"]}')
        return reply.get('result', {})

    def keep(self, message):
        if 'method' in message:
            self.events.append(message)
        elif 'id' in message:
            self.replies[message['id']] = message   # a call sent earlier, its reply not asked for yet

    def call(self, method, **params):
        return self.reply(self.send(method, **params), method)

    def event(self, step, accept, timeout):
        """The first event (kept or to come) for which accept(event) is true."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if accept(e):
                    self.events.remove(e)
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                sys.exit(f'console_cdp: {step}: not within {timeout} s; events: {self.events[-5:]}')
            self.ws.settimeout(left)
            try:
                e = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            finally:
                self.ws.settimeout(10)
            self.keep(e)

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
            browser = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/version', timeout=2))
            return proc, page['webSocketDebuggerUrl'], browser['webSocketDebuggerUrl']
        except (OSError, ValueError, IndexError, StopIteration):
            time.sleep(0.1)
    sys.exit('console_cdp: chromium did not open its DevTools port within 20 s')


def main():
    # meson's timeout sends SIGTERM: the finally below still kills Chromium.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('console_cdp: terminated'))
    token = None
    fleet = sys.argv[1] == '--fleet'
    if fleet:
        del sys.argv[1]
    elif sys.argv[1] == '--token':
        token = sys.argv[2]
        del sys.argv[1:3]
    url, workdir = sys.argv[1:3]
    proc, ws_url, browser_url = start_chromium(url, workdir)
    try:
        if fleet:
            print(json.dumps(fleet_panel(Page(ws_url))))
            return
        downloads = Downloads(Page(browser_url), os.path.join(workdir, 'downloads-token' if token else 'downloads'))
        if token:
            run_with_token(Page(ws_url), downloads, token)
        else:
            run(Page(ws_url), downloads, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 2.5)
    finally:
        # Its whole process group: the browser, its renderers, its GPU process.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:   # killed, not yet reaped: the test's clean-up kills the group again
            print(f'console_cdp: chromium (pid {proc.pid}) not gone 30 s after SIGKILL', file=sys.stderr)
            return
        os.remove(os.path.join(workdir, 'chromium.pid'))   # gone: console.sh has nothing left to kill


class Downloads:
    """What the browser downloads, saved in FOLDER (Browser.setDownloadBehavior
    on the browser's connection, whose events say when a file is whole)."""

    def __init__(self, browser, folder):
        os.makedirs(folder, exist_ok=True)
        self.browser = browser
        self.folder = folder
        browser.call('Browser.setDownloadBehavior', behavior='allow', downloadPath=folder, eventsEnabled=True)

    def wait(self, step, timeout=10):
        """(the name the browser gave the file, its path, the URL it came from), once completed."""
        begin = self.browser.event(step, lambda e: e['method'] == 'Browser.downloadWillBegin', timeout)['params']
        done = self.browser.event(step, lambda e: e['method'] == 'Browser.downloadProgress' and
                                  e['params']['guid'] == begin['guid'] and
                                  e['params']['state'] in ('completed', 'canceled'), timeout)['params']
        if done['state'] != 'completed':
            sys.exit(f'console_cdp: {step}: the download was {done["state"]}: {begin}')
        path = done.get('filePath') or os.path.join(self.folder, begin['suggestedFilename'])
        return begin['suggestedFilename'], path, begin['url']


def ctl(*args):
    """linecapctl on the daemon's socket (console.sh exports LINECAP_SOCK)."""
    r = subprocess.run([os.environ['LINECAPCTL'], '--socket', os.environ['LINECAP_SOCK'], *args],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f'console_cdp: linecapctl {" ".join(args)}: exit {r.returncode}: {r.stderr}')
    return r.stdout


def row_of(session_id):
    return f'document.querySelector(\'#sessions tbody tr[data-id="{session_id}"]\')'


def actions_of(row):
    """The labels of a row's buttons and links, as the page shows them."""
    return f'[...{row}.querySelectorAll(".actions button, .actions a")].map(b => b.textContent)'


def click(row, label):
    return f'[...{row}.querySelectorAll(".actions button, .actions a")].find(b => b.textContent === {json.dumps(label)}).click()'


def fleet_panel(page):
    """The fleet panel once it lists a fleet session: each row's cells by node
    name and by fleet session id, and each session's PCAP link."""
    page.wait('the fleet panel lists a fleet session',
              'document.getElementById("fleet")?.hidden === false && document.querySelector("#fleet-sessions tr[data-fleet]") !== null',
              30, show='(document.getElementById("fleet")?.outerHTML ?? document.body.innerText).slice(0, 3000)')
    return page.js('''(() => {
        const cells = tr => [...tr.cells].map(c => c.textContent.trim());
        const rows = (selector, key) => Object.fromEntries(
            [...document.querySelectorAll(selector)].map(tr => [tr.dataset[key], cells(tr)]));
        return {hidden: document.getElementById("fleet").hidden,
                nodes: rows("#fleet-nodes tr[data-node]", "node"),
                sessions: rows("#fleet-sessions tr[data-fleet]", "fleet"),
                links: [...document.querySelectorAll("#fleet-sessions tr[data-fleet] a")]
                    .map(a => [a.closest("tr").dataset.fleet, a.getAttribute("href")])};
    })()''')


def capture_one_host(page, downloads, url, token, name):
    """A new user's capture of one host, all from the page: started from the
    form, followed live, stopped from the table, its PCAP downloaded. Returns
    what the page showed, the session as the API then has it, and the paths of
    the file the browser saved and of `linecapctl merge` of the same session."""
    out = {}
    page.js('document.getElementById("start-form").reset(); document.getElementById("form-message").textContent = ""')
    page.js(f'document.getElementById("f-name").value = {json.dumps(name)}')
    page.js('document.getElementById("f-dst").value = "10.7.64.56"')   # one host of the replay (linecap-gen --seed 3)
    page.js('document.getElementById("f-bidirectional").checked = true')
    page.js('document.getElementById("f-snaplen").value = "96"')
    page.js('document.querySelector("#start-form button[type=submit]").click()')
    message = page.wait(f'the form starts {name}', 'document.getElementById("form-message").textContent.startsWith("Session ") && '
                        'document.getElementById("form-message").textContent', 10)
    out['id'] = session_id = message.split()[1]
    row = row_of(session_id)
    page.wait(f'the table lists {name} running', f'{row} && {row}.innerText.includes("running")', 10)
    out['running_actions'] = page.js(actions_of(row))

    page.js(click(row, 'View live'))
    lines = 'document.getElementById("live-lines").innerText.split("\\n").filter(l => l.length)'
    out['live'] = page.wait(f'the live panel shows {name}\'s packets', f'{lines}.length >= 3 && {lines}', 10,
                            show='document.getElementById("live-status").textContent')

    page.js(click(row, 'Stop'))
    stopped = time.monotonic()
    cells = f'[...{row}.cells].map(c => c.textContent)'
    shown = page.wait(f'the table shows {name} ended', f'{row} && {row}.querySelector(".badge").textContent !== "running" '
                      f'&& {cells}', 5)
    out['stop_shown_s'] = round(time.monotonic() - stopped, 2)
    out['ended_row'] = {'ended': shown[4], 'status': shown[5], 'reason': shown[6]}
    out['ended_actions'] = page.js(actions_of(row))
    out['live_status'] = page.wait('the live panel says the session ended',
                                   'document.getElementById("live-status").textContent.includes("has ended") && '
                                   'document.getElementById("live-status").textContent', 5)
    request = urllib.request.Request(f'{url}api/v1/sessions/{session_id}',
                                     headers={'Authorization': f'Bearer {token}'} if token else {})
    out['api'] = json.load(urllib.request.urlopen(request, timeout=5))

    page.js(click(row, 'PCAP'))
    out['file_name'], out['file'], out['file_url'] = downloads.wait(f'the PCAP of {name} downloads')
    # The same session merged by linecapctl, and its counters, for console.sh to compare.
    out['merged'] = os.path.join(downloads.folder, f'merged-{session_id}.pcap')
    ctl('merge', session_id, '-o', out['merged'])
    out['show'] = json.loads(ctl('--json', 'show', session_id))
    return out


def delete_session(page, session_id):
    """Delete on an ended session's row, its confirmation accepted as a user
    would; what the dialog said, once the row has left the table."""
    row = row_of(session_id)
    # click() returns only once the confirm() it opens is answered.
    pending = page.send('Runtime.evaluate', expression=click(row, 'Delete'))
    dialog = page.event('Delete asks for a confirmation', lambda e: e['method'] == 'Page.javascriptDialogOpening', 5)
    page.call('Page.handleJavaScriptDialog', accept=True)
    page.reply(pending, 'Runtime.evaluate')
    page.wait(f'session {session_id} leaves the table once deleted', f'!{row}', 5)
    return {'type': dialog['params']['type'], 'message': dialog['params']['message']}


def run_with_token(page, downloads, token):
    out = {}
    page.call('Runtime.enable')
    page.call('Page.enable')
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
    # The PCAP link fetched with the token, handed to the browser as a blob.
    out['host'] = capture_one_host(page, downloads, page.js('location.href'), token, 'one-host-token')
    print(json.dumps(out))


def run(page, downloads, screenshot, settle):
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

    # One host: started, followed live, stopped, downloaded, deleted.
    page.call('Page.enable')   # for the confirmation dialog's event
    out['host'] = capture_one_host(page, downloads, page.js('location.href'), None, 'one-host')
    out['running_1_actions'] = page.js(actions_of(row))
    out['deleted'] = delete_session(page, out['host']['id'])
    page.js('document.getElementById("start-form").reset(); document.getElementById("form-message").textContent = ""')

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
