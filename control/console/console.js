// linecap's web console (docs/http.md, "The web console"): the HTTP API's
// routes from a page. No library, nothing fetched from elsewhere.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('linecap-token') || '',
  specs: new Map(),      // session id -> its spec (it never changes)
  live: null,            // the EventSource of the live panel
  liveId: null,
  stats: null,           // the last /api/v1/stats reply
  history: [],           // [{rx, written}] per poll, for the chart
  fleet: null,           // whether this node is in a fleet: unknown until asked
  fleetAsking: false,    // a reading of the fleet under way
};
const REFRESH_MS = 2000;
const LIVE_LINES = 400;
const CHART_POINTS = 90;

// ---- the API ----

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    setConnection(false, 'no answer');
    return {status: 0, data: {error: 'linecap does not answer: ' + e.message}};
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = {}; }
  if (res.status === 401) {
    setConnection(false, 'token needed');
    showBanner((data && data.error ? data.error + '. ' : '') +
      'This daemon asks for a bearer token: paste the token of its --http-token-file above.');
  } else {
    setConnection(true, 'connected');
    if (state.token || res.ok) hideBanner();
  }
  return {status: res.status, data: data || {}};
}

function setConnection(ok, text) {
  const c = $('conn');
  c.textContent = text;
  c.className = 'conn ' + (ok ? 'ok' : 'bad');
}
function showBanner(text) { const b = $('banner'); b.textContent = text; b.hidden = false; }
function hideBanner() { $('banner').hidden = true; }

// ---- formatting ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function utc(iso) {
  if (!iso) return '';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? m[1] + ' ' + m[2] : iso;
}

function bytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

function count(n) {
  return Number(n || 0).toLocaleString('en-US');
}

function rate(n) {
  const v = Number(n || 0);
  if (v >= 1e6) return (v / 1e6).toFixed(2) + ' M';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + ' k';
  return v.toFixed(0);
}

// A spec in a few words: "udp dst 10.0.0.1 port 53 ⇄ · bpf: not port 22 · snap 96".
function summarize(spec) {
  if (!spec) return '…';
  const parts = [];
  const rules = (spec.match || []).map((r) => {
    const w = [];
    if (r.protocols) w.push(r.protocols.join('/'));
    if (r.src) w.push('src ' + r.src.join(' '));
    if (r.src_ports) w.push('sport ' + r.src_ports.join(' '));
    if (r.dst) w.push('dst ' + r.dst.join(' '));
    if (r.dst_ports) w.push('dport ' + r.dst_ports.join(' '));
    if (r.tcp_flags) {
      const f = [];
      for (const k of ['any', 'all', 'none']) if (r.tcp_flags[k] && r.tcp_flags[k].length) f.push(k + ':' + r.tcp_flags[k].join(','));
      w.push('flags ' + (f.join(' ') || 'tcp'));
    }
    if (r.bidirectional) w.push('⇄');
    return w.join(' ') || 'any';
  });
  if (rules.length) parts.push(rules.join(' or '));
  if (spec.tunnel) parts.push('inner' + (spec.decap ? ', decap' : ''));
  if (spec.bpf) parts.push('bpf: ' + spec.bpf);
  if (spec.payload && spec.payload.patterns) parts.push('payload: ' + spec.payload.patterns.join(' | '));
  if (spec.snaplen) parts.push('snap ' + spec.snaplen);
  return parts.join(' · ') || 'every packet';
}

// ---- sessions ----

async function refreshSessions() {
  const r = await api('GET', '/api/v1/sessions');
  if (r.status !== 200) return;
  const sessions = r.data.sessions || [];
  await Promise.all(sessions.filter((s) => !state.specs.has(s.id)).map(async (s) => {
    const show = await api('GET', '/api/v1/sessions/' + encodeURIComponent(s.id));
    if (show.status === 200) state.specs.set(s.id, show.data.session.spec || {});
  }));
  const body = $('sessions').tBodies[0];
  body.replaceChildren(...sessions.slice().reverse().map(sessionRow));
  $('no-sessions').hidden = sessions.length !== 0;
  $('sessions-updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
}

function sessionRow(s) {
  const running = s.status === 'running';
  const id = encodeURIComponent(s.id);
  const actions = el('div', {class: 'actions'});
  if (running) {
    actions.append(el('button', {type: 'button', text: 'Stop', onclick: () => stopSession(s.id)}));
    actions.append(el('button', {type: 'button', text: 'View live', onclick: () => follow(s.id, s.name)}));
  }
  const pcap = el('a', {class: 'button', href: `/api/v1/sessions/${id}/pcap`, download: `${s.name}-${s.id}.pcap`,
                        text: 'PCAP', title: 'its files merged in time order'});
  pcap.addEventListener('click', (e) => downloadWithToken(e, pcap));
  actions.append(pcap);
  if (!running) {
    actions.append(el('button', {type: 'button', class: 'danger', text: 'Delete', onclick: () => deleteSession(s.id)}));
  }
  return el('tr', {'data-id': s.id},
    el('td', {class: 'mono', text: s.id}),
    el('td', {text: s.name}),
    el('td', {class: 'filter', text: summarize(state.specs.get(s.id))}),
    el('td', {class: 'mono', text: utc(s.started)}),
    el('td', {class: 'mono', text: utc(s.ended)}),
    el('td', {}, el('span', {class: 'badge ' + s.status, text: s.status})),
    el('td', {class: 'reason', text: s.reason || ''}),
    el('td', {class: 'num', text: count(s.packets)}),
    el('td', {class: 'num', text: bytes(s.bytes)}),
    el('td', {class: 'num', text: count(s.drops)}),
    el('td', {}, actions));
}

// A link cannot carry the Authorization header: with a token, the file is
// fetched with it and handed to the browser whole.
async function downloadWithToken(event, link) {
  if (!state.token) return;
  event.preventDefault();
  const res = await fetch(link.href, {headers: {'Authorization': 'Bearer ' + state.token}});
  if (!res.ok) {
    let msg = 'HTTP ' + res.status;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    showBanner('PCAP download: ' + msg);
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = el('a', {href: url, download: link.getAttribute('download')});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function stopSession(id) {
  const r = await api('POST', `/api/v1/sessions/${encodeURIComponent(id)}/stop`);
  if (r.status !== 200) showBanner(`Stop session ${id}: ${r.data.error || 'HTTP ' + r.status}`);
  refreshSessions();
}

async function deleteSession(id) {
  if (!confirm(`Delete session ${id} and all its files?`)) return;
  const r = await api('DELETE', `/api/v1/sessions/${encodeURIComponent(id)}`);
  if (r.status !== 200) showBanner(`Delete session ${id}: ${r.data.error || 'HTTP ' + r.status}`);
  state.specs.delete(id);
  refreshSessions();
}

// ---- the fleet (shown when this node is in one: /api/v1/fleet answers) ----

async function refreshFleet() {
  if (state.fleet === false || state.fleetAsking) return;   // one reading of etcd at a time
  state.fleetAsking = true;
  let nodes, sessions;
  try {
    [nodes, sessions] = await Promise.all([api('GET', '/api/v1/fleet/nodes'), api('GET', '/api/v1/fleet/sessions')]);
  } finally {
    state.fleetAsking = false;
  }
  if (nodes.status === 404) {   // not in a fleet: never asked again
    state.fleet = false;
    $('fleet').hidden = true;
    return;
  }
  if (nodes.status !== 200 || sessions.status !== 200) {
    $('fleet-updated').textContent = (nodes.data.error || sessions.data.error || 'no answer') + ' (shown: the last known)';
    return;
  }
  state.fleet = true;
  $('fleet').hidden = false;
  $('fleet-nodes').tBodies[0].replaceChildren(...(nodes.data.nodes || []).map(nodeRow));
  const rows = sessions.data.sessions || [];
  $('fleet-sessions').tBodies[0].replaceChildren(...rows.slice().reverse().map(fleetRow));
  $('no-fleet-sessions').hidden = rows.length !== 0;
  $('fleet-updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
}

function nodeRow(n) {
  const clock = n.clock || {};
  const running = Number(n.sessions_running || 0);
  return el('tr', {'data-node': n.name},
    el('td', {class: 'mono', text: n.name}),
    el('td', {class: 'mono', text: n.url}),
    el('td', {text: running ? `capturing (${running} session${running === 1 ? '' : 's'})` : 'idle'}),
    el('td', {class: clock.synchronised ? '' : 'bad', text: clock.synchronised
      ? `synchronised, ±${clock.est_error_us} µs` : 'NOT synchronised'}),
    el('td', {text: n.version || ''}),
    el('td', {class: 'mono', text: (Array.isArray(n.ports) ? n.ports : []).map((p) => p && p.name).join(', ') || '-'}),
    el('td', {class: 'mono', text: utc(n.updated)}));
}

function fleetRow(f) {
  const id = encodeURIComponent(f.id);
  // The merge is made by this node: it fetches every node's part.
  const pcap = el('a', {class: 'button', href: `/api/v1/fleet/sessions/${id}/pcap`, download: `fleet-${f.id}.pcapng`,
                        text: 'Merged PCAP', title: "every node's files merged in time order, one interface per node"});
  pcap.addEventListener('click', (e) => downloadWithToken(e, pcap));
  return el('tr', {'data-fleet': f.id},
    el('td', {class: 'mono', text: f.id}),
    el('td', {text: f.name}),
    el('td', {class: 'mono', text: utc(f.start || f.created)}),
    el('td', {class: 'mono', text: utc(f.end)}),
    el('td', {}, el('span', {class: 'badge ' + f.status, text: f.status})),
    el('td', {class: 'num', text: count(f.nodes_running)}),
    el('td', {class: 'num', text: count(f.nodes_finished)}),
    el('td', {class: 'num', text: count(f.nodes_failed)}),
    el('td', {class: 'num', text: count(f.packets)}),
    el('td', {class: 'num', text: bytes(f.bytes)}),
    el('td', {class: 'num', text: count(f.drops)}),
    el('td', {}, el('div', {class: 'actions'}, pcap)));
}

// ---- the start form ----

const words = (v) => v.trim().split(/[\s,]+/).filter(Boolean);
// Whole numbers go as numbers, anything else as typed: the daemon says what is wrong.
const value = (v) => (/^\d+$/.test(v) ? Number(v) : v);
const field = (name) => $('f-' + name).value.trim();

function buildSpec() {
  const spec = {};
  if (field('name')) spec.name = field('name');
  const rule = {};
  for (const k of ['src', 'dst']) if (field(k)) rule[k] = words(field(k));
  for (const k of ['src_ports', 'dst_ports', 'protocols']) if (field(k)) rule[k] = words(field(k)).map(value);
  const flags = {};
  for (const k of ['any', 'all', 'none']) if (field('flags_' + k)) flags[k] = words(field('flags_' + k));
  if (Object.keys(flags).length) rule.tcp_flags = flags;
  if ($('f-bidirectional').checked && Object.keys(rule).length) rule.bidirectional = true;
  if (Object.keys(rule).length) spec.match = [rule];
  if (field('bpf')) spec.bpf = field('bpf');
  if (field('snaplen')) spec.snaplen = value(field('snaplen'));
  if (field('format')) spec.format = field('format');
  const limits = {};
  if (field('count')) limits.packets = value(field('count'));
  if (field('duration')) limits.seconds = value(field('duration'));
  if (field('max_bytes')) limits.bytes = value(field('max_bytes'));
  if (Object.keys(limits).length) spec.limits = limits;
  const rotate = {};
  const mb = field('rotate_mb');
  // MB as tcpdump's -C counts them: 1 000 000 bytes.
  if (mb) rotate.bytes = /^\d+(\.\d+)?$/.test(mb) ? Math.round(Number(mb) * 1e6) : mb;
  if (field('rotate_seconds')) rotate.seconds = value(field('rotate_seconds'));
  if (field('keep')) rotate.keep = value(field('keep'));
  if (Object.keys(rotate).length) spec.rotate = rotate;
  return spec;
}

// The spec path the daemon's error names -> the form field that holds it.
const FIELD_OF_PATH = [
  [/^match\[\d+\]\.src_ports/, 'src_ports'],
  [/^match\[\d+\]\.dst_ports/, 'dst_ports'],
  [/^match\[\d+\]\.src/, 'src'],
  [/^match\[\d+\]\.dst/, 'dst'],
  [/^match\[\d+\]\.protocols/, 'protocols'],
  [/^match\[\d+\]\.tcp_flags/, 'flags'],
  [/^match\[\d+\]\.bidirectional/, 'bidirectional'],
  [/^match/, 'src'],
  [/^bpf/, 'bpf'],
  [/^snaplen/, 'snaplen'],
  [/^format/, 'format'],
  [/^limits\.packets/, 'count'],
  [/^limits\.seconds/, 'duration'],
  [/^limits\.bytes/, 'max_bytes'],
  [/^rotate\.seconds/, 'rotate_seconds'],
  [/^rotate\.keep/, 'keep'],
  [/^rotate/, 'rotate_mb'],
  [/^name/, 'name'],
];

function clearErrors() {
  for (const e of document.querySelectorAll('.field-error')) e.textContent = '';
  for (const e of document.querySelectorAll('input.invalid')) e.classList.remove('invalid');
  const m = $('form-message');
  m.textContent = '';
  m.className = 'form-message';
}

function showError(message) {
  // "start: spec: match[0].src[0]: 10.1.0.5/24 has host bits set: ..."
  const path = message.replace(/^start: spec: /, '');
  const match = FIELD_OF_PATH.find(([re]) => re.test(path));
  const m = $('form-message');
  m.className = 'form-message bad';
  if (!match) {
    m.textContent = message;
    return;
  }
  const name = match[1];
  $('err-' + name).textContent = message;
  const input = name === 'flags' ? $('f-flags_any') : $('f-' + name);
  if (input.tagName === 'INPUT' && input.type !== 'checkbox') input.classList.add('invalid');
  input.focus();
  m.textContent = 'Not started: see the field marked.';
}

async function startCapture(event) {
  event.preventDefault();
  clearErrors();
  const r = await api('POST', '/api/v1/sessions', buildSpec());
  const m = $('form-message');
  if (r.status === 201) {
    m.className = 'form-message ok';
    m.textContent = `Session ${r.data.id} started` + (r.data.notes && r.data.notes.length ? ': ' + r.data.notes.join(' ') : '.');
    refreshSessions();
  } else {
    showError(r.data.error || 'HTTP ' + r.status);
  }
}

// ---- live ----

function liveLine(text, kind) {
  const pre = $('live-lines');
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(kind ? el('span', {class: kind, text: text + '\n'}) : document.createTextNode(text + '\n'));
  while (pre.childNodes.length > LIVE_LINES) pre.firstChild.remove();
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

function stopFollowing() {
  if (state.live) state.live.close();
  state.live = null;
  state.liveId = null;
  $('live-close').hidden = true;
}

function follow(id, name) {
  stopFollowing();
  $('live-lines').replaceChildren();
  $('live-title').textContent = `session ${id} (${name})`;
  $('live-status').textContent = 'connecting…';
  let url = `/api/v1/sessions/${encodeURIComponent(id)}/live`;
  // EventSource sends no header: the token goes in the URL, for /live only.
  if (state.token) url += '?access_token=' + encodeURIComponent(state.token);
  const es = new EventSource(url);
  state.live = es;
  state.liveId = id;
  $('live-close').hidden = false;
  es.addEventListener('watching', (e) => {
    const w = JSON.parse(e.data);
    $('live-status').textContent = `following session ${w.id}: at most ${w.max_lines_per_second} lines a second, ` +
      'a sample of its packets';
  });
  es.onmessage = (e) => liveLine(e.data);
  es.addEventListener('note', (e) => liveLine('note: ' + e.data, 'note'));
  es.addEventListener('dropped', (e) => liveLine(`… ${JSON.parse(e.data).lines} lines dropped (this page read too slowly)`, 'note'));
  es.addEventListener('end', (e) => {
    const d = JSON.parse(e.data);
    liveLine(`session ${d.id} ended: ${d.reason}`, 'end');
    $('live-status').textContent = `session ${d.id} has ended (${d.reason})`;
    es.close();
    refreshSessions();
  });
  es.onerror = async () => {
    if (es.readyState !== EventSource.CLOSED || state.live !== es) return;
    // Refused (404, 409, 503): EventSource hides why; ask once more to show the daemon's words.
    const ctl = new AbortController();
    try {
      const res = await fetch(url, {signal: ctl.signal});
      if (res.status !== 200) $('live-status').textContent = (await res.json()).error || 'HTTP ' + res.status;
      else $('live-status').textContent = 'the stream was closed';
    } catch (err) {
      $('live-status').textContent = 'the stream was closed: ' + err.message;
    }
    ctl.abort();
  };
}

// ---- counters ----

async function refreshStats() {
  const r = await api('GET', '/api/v1/stats');
  if (r.status !== 200) return;
  const now = r.data;
  const before = state.stats;
  state.stats = now;
  const dt = before ? now.uptime_s - before.uptime_s : 0;
  const per = (a, b, k) => (dt > 0 && b ? Math.max(0, (a[k] - b[k]) / dt) : 0);
  if (dt > 0) {
    state.history.push({rx: per(now.totals, before.totals, 'rx_packets'),
                        written: per(now.totals, before.totals, 'written_packets')});
    if (state.history.length > CHART_POINTS) state.history.shift();
  }
  const find = (list, key, v) => (list || []).find((x) => x[key] === v);
  table($('t-ports'), ['port', 'rx pkt/s', 'rx Mbit/s', 'missed', 'no mbuf'], (now.ports || []).map((p) => {
    const b = before && find(before.ports, 'port', p.port);
    return [p.name, rate(per(p, b, 'rx_packets')), (per(p, b, 'rx_bytes') * 8 / 1e6).toFixed(1),
            drop(p.imissed), drop(p.nombuf)];
  }));
  table($('t-workers'), ['worker', 'lcore', 'rx pkt/s', 'matched/s', 'ring full'], (now.workers || []).map((w) => {
    const b = before && find(before.workers, 'worker', w.worker);
    return [String(w.worker), String(w.lcore), rate(per(w, b, 'rx_packets')), rate(per(w, b, 'matched_packets')),
            drop(w.dropped_ring)];
  }));
  table($('t-writers'), ['writer', 'lcore', 'pkt/s', 'MB/s', 'files', 'write err'], (now.writers || []).map((w) => {
    const b = before && find(before.writers, 'writer', w.writer);
    return [String(w.writer), String(w.lcore), rate(per(w, b, 'written_packets')),
            (per(w, b, 'written_bytes') / 1e6).toFixed(2), count(w.files), drop(w.dropped_write)];
  }));
  const t = now.totals || {};
  table($('t-drops'), ['stage', 'packets', 'per s'], [
    ['NIC (missed)', drop(t.dropped_nic), rate(per(t, before && before.totals, 'dropped_nic'))],
    ['no mbuf', drop(t.dropped_nombuf), rate(per(t, before && before.totals, 'dropped_nombuf'))],
    ['writer ring full', drop(t.dropped_ring), rate(per(t, before && before.totals, 'dropped_ring'))],
    ['write error', drop(t.dropped_write), rate(per(t, before && before.totals, 'dropped_write'))],
    ['session limit', drop(t.dropped_limit), rate(per(t, before && before.totals, 'dropped_limit'))],
  ]);
  drawChart();
}

// A drop count: grey when 0, red otherwise.
function drop(n) {
  return {text: count(n), cls: Number(n || 0) === 0 ? 'zero num' : 'bad num'};
}

function table(t, head, rows) {
  const cells = (r) => r.map((c, i) => (typeof c === 'object'
    ? el('td', {class: c.cls, text: c.text}) : el('td', {class: i === 0 ? '' : 'num', text: c})));
  t.replaceChildren(el('thead', {}, el('tr', {}, ...head.map((h, i) => el('th', {class: i === 0 ? '' : 'num', text: h})))),
                    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...cells(r)))));
}

function drawChart() {
  const c = $('rate-chart');
  const ratio = window.devicePixelRatio || 1;
  const w = c.clientWidth;
  const h = c.clientHeight;
  if (c.width !== w * ratio) { c.width = w * ratio; c.height = h * ratio; }
  const g = c.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 60;
  const top = 10;
  const bottom = h - 20;
  const max = Math.max(10, ...state.history.map((p) => Math.max(p.rx, p.written))) * 1.1;
  g.font = '11px "DejaVu Sans", sans-serif';
  g.fillStyle = '#667085';
  g.strokeStyle = '#e3e6ec';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = Math.round(bottom - (bottom - top) * i / 4) + 0.5;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - 8, y); g.stroke();
    g.fillText(rate(max * i / 4), 6, y + 4);
  }
  g.fillText(`last ${Math.round(CHART_POINTS * REFRESH_MS / 1000)} s`, left, h - 5);
  const x = (i) => left + (w - 8 - left) * i / (CHART_POINTS - 1);
  const y = (v) => bottom - (bottom - top) * v / max;
  const offset = CHART_POINTS - state.history.length;
  for (const [key, color] of [['rx', '#2457c5'], ['written', '#1a9e5c']]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    state.history.forEach((p, i) => (i ? g.lineTo(x(i + offset), y(p[key])) : g.moveTo(x(i + offset), y(p[key]))));
    g.stroke();
  }
}

// ---- start ----

function main() {
  $('token').value = state.token;
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    if (state.token) sessionStorage.setItem('linecap-token', state.token);
    else sessionStorage.removeItem('linecap-token');
    state.specs.clear();
    refreshSessions();
    refreshStats();
    refreshFleet();
  });
  $('start-form').addEventListener('submit', startCapture);
  $('live-close').addEventListener('click', () => {
    stopFollowing();
    $('live-status').textContent = 'not following';
  });
  refreshSessions();
  refreshStats();
  setInterval(refreshSessions, REFRESH_MS);
  setInterval(refreshStats, REFRESH_MS);
  refreshFleet();
  setInterval(refreshFleet, REFRESH_MS);
  window.addEventListener('resize', drawChart);
}

main();
