// edgepm status page: polls api/status (v2) and api/history (v1) and
// renders them. No network access beyond the appliance: uPlot is embedded.
// After each complete render it sets data-rendered on <body> (a counter),
// and data-points on each chart; a script error sets data-js-error (the
// headless Chromium test, make test-ui, checks both).
'use strict';
const POLL_MS = 5000;
let status = null, history = null, charts = {};

function scriptFailed(err) {
  document.body.dataset.jsError = String(err && err.stack || err);
  showError('page error: ' + err);
}
window.addEventListener('error', e => scriptFailed(e.error || e.message));
window.addEventListener('unhandledrejection', e => scriptFailed(e.reason));

function $(id) { return document.getElementById(id); }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c])); }
function showError(msg) { const e = $('error'); e.hidden = !msg; e.textContent = msg || ''; }
function num(v, d = 0) { return v == null ? '–' : Number(v).toLocaleString(undefined, {maximumFractionDigits: d, minimumFractionDigits: d}); }
function bytes(b) {
  if (b == null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;
  while (Math.abs(b) >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}
function dur(s) {
  if (s == null) return '–';
  s = Math.max(0, s);
  if (s < 90) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  if (s < 5400) return (s / 60).toFixed(0) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
function when(iso) {
  if (!iso) return '–';
  const t = new Date(iso); if (isNaN(t)) return esc(iso);
  const ago = (Date.now() - t) / 1000; // a reading's own time may run ahead (a simulator's clock)
  const rel = ago < -2 ? `${dur(-ago)} ahead of this clock` : `${dur(ago)} ago`;
  return `<span title="${esc(t.toISOString())}">${esc(t.toLocaleString())}</span> <span class="muted small">(${rel})</span>`;
}
function list(v) { return Array.isArray(v) ? v : []; }

// What a score means, from the model's semantics.
function meaning(m) {
  const sem = m && m.semantics;
  const when = m && m.alert_when || (sem && sem.startsWith('remaining_useful_life') ? 'below' : 'above');
  const words = {
    failure_probability: 'failure probability (0 = healthy, 1 = failing)',
    remaining_useful_life_s: 'remaining useful life in seconds',
    remaining_useful_life_cycles: 'remaining useful life in operating cycles',
  }[sem] || (sem ? sem.replace(/_/g, ' ') : 'model score');
  return {words, when, fmt: v => sem && sem.startsWith('remaining_useful_life') ? num(v, 1) : num(v, 3)};
}

async function getJSON(path) {
  const r = await fetch(path, {cache: 'no-store'});
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

// tick fetches and renders; a fetch failure is shown (the appliance may be
// restarting), a rendering failure is a script error (scriptFailed).
async function tick() {
  try {
    [status, history] = await Promise.all([getJSON('api/status'), getJSON('api/history')]);
  } catch (e) {
    showError('appliance status unavailable: ' + e.message);
    return;
  }
  showError('');
  render();
}

function render() {
  renderHeader(status);
  renderTiles(status);
  renderCharts(history);
  renderMachines(status, history);
  renderModel(status);
  renderStreams(status);
  renderAlerts(history, status);
  document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
}

function renderHeader(s) {
  $('gw').textContent = s.gateway;
  const r = $('ready');
  r.textContent = s.ready ? 'READY' : 'NOT READY';
  r.className = 'badge ' + (s.ready ? 'ok' : 'bad');
  $('meta').textContent = `version ${s.version} · up ${dur(s.uptime_s)} · ${new Date(s.time || Date.now()).toLocaleString()}`;
  const items = list(s.conditions).map(c => `<li class="bad">${esc(c)}</li>`)
    .concat(list(s.warnings).map(w => `<li class="warn">${esc(w)}</li>`));
  $('conds').innerHTML = items.join('') || '<li class="ok">No conditions or warnings: the data path is healthy.</li>';
}

function tile(title, body) { return `<div class="tile"><b>${esc(title)}</b>${body}</div>`; }

function renderTiles(s) {
  const m = s.mqtt || {}, u = s.uplink || {}, bl = u.backlog || {}, b = s.buffer || {};
  const cls = ok => ok ? 'ok' : 'bad';
  const pct = b.max_bytes ? ` (${(100 * b.bytes / b.max_bytes).toFixed(1)} %)` : '';
  $('tiles').innerHTML = [
    tile('MQTT', `<span class="${cls(m.connected)}">${m.connected ? 'connected' : 'down'}</span> ${esc(m.broker || '')}<br>${num(m.unacked)} unacked` +
      (m.oldest_unacked_s ? `, oldest ${dur(m.oldest_unacked_s)}` : '')),
    tile('Uplink (Kafka)', `<span class="${cls(u.online)}">${esc(u.state || '?')}</span> since ${when(u.since)}` +
      (u.last_error ? `<br><span class="bad small">${esc(u.last_error)}</span>` : '')),
    tile('Backlog', `${num(bl.records)} records, ${bytes(bl.bytes)}<br>oldest ${dur(bl.oldest_age_s)}` +
      (bl.records && bl.eta_s != null ? `, drained in ~${dur(bl.eta_s)}` : '') + (bl.draining ? ' <span class="warn">draining</span>' : '')),
    tile('Buffer', `${bytes(b.bytes)} of ${bytes(b.max_bytes)}${pct}<br>${num(b.records)} records, file ${bytes(b.file_bytes)}`),
    tile('Rates', `${num((s.rates || {}).readings_per_s, 1)} readings/s<br>${num((s.rates || {}).predictions_per_s, 1)} predictions/s`),
    tile('Alerts', `<span class="${s.active_alerts ? 'bad' : 'ok'}">${num(s.active_alerts)} active</span> of ${num(list(s.devices).length)} machines`),
  ].join('');
}

// --- charts (uPlot) ---------------------------------------------------------

function chartWidth(el) { return Math.max(300, el.clientWidth - 8); }

function makeChart(id, series, axes, scales) {
  const el = $(id);
  const opts = {width: chartWidth(el), height: 180, series: [{}].concat(series), axes, scales: scales || {},
    legend: {live: true}, cursor: {drag: {x: false, y: false}}};
  return new uPlot(opts, [[]].concat(series.map(() => [])), el);
}

function initCharts() {
  const byteAxis = {values: (u, v) => v.map(bytes), size: 85};
  charts.rates = makeChart('chart-rates', [
    {label: 'readings/s', stroke: '#1f5fbf', width: 1.5},
    {label: 'predictions/s', stroke: '#2e9d49', width: 1.5},
    {label: 'invalid/s', stroke: '#c62828', width: 1.5},
  ], [{}, {size: 55}]);
  charts.backlog = makeChart('chart-backlog', [
    {label: 'records waiting', stroke: '#1f5fbf', width: 1.5, scale: 'n'},
    {label: 'oldest age (s)', stroke: '#8a5a00', width: 1.5, scale: 's', value: (u, v) => dur(v)},
  ], [{}, {scale: 'n', size: 60}, {scale: 's', side: 1, size: 60, values: (u, v) => v.map(dur), grid: {show: false}}],
  {n: {range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)]}, s: {range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)]}});
  charts.buffer = makeChart('chart-buffer', [
    {label: 'stored', stroke: '#1f5fbf', width: 1.5, fill: 'rgba(31,95,191,0.08)', value: (u, v) => bytes(v)},
    {label: 'cap (buffer.max_bytes)', stroke: '#c62828', width: 1, dash: [6, 4], value: (u, v) => bytes(v)},
  ], [{}, byteAxis], {y: {range: (u, lo, hi) => [0, Math.max(1, hi * 1.05)]}});
  window.addEventListener('resize', () => {
    for (const [k, c] of Object.entries(charts)) c.setSize({width: chartWidth($('chart-' + k)), height: 180});
  });
}

function renderCharts(h) {
  if (!charts.rates) initCharts();
  const s = h.samples, t = s.time;
  charts.rates.setData([t, s.readings_per_s, s.predictions_per_s, s.invalid_per_s]);
  charts.backlog.setData([t, s.backlog_records, s.backlog_oldest_age_s]);
  charts.buffer.setData([t, s.buffer_bytes, t.map(() => h.buffer_max_bytes)]);
  for (const k of Object.keys(charts)) $('chart-' + k).dataset.points = String(t.length);
  renderUplinkStrip(h);
}

function renderUplinkStrip(h) {
  const slots = Math.round(3600 / h.step_s), st = h.samples.uplink_state, t = h.samples.time;
  const pad = Math.max(0, slots - st.length);
  let html = '<span class="st-none"></span>'.repeat(pad);
  st.slice(-slots).forEach((v, i) => {
    const at = new Date(t[t.length - Math.min(st.length, slots) + i] * 1000).toLocaleTimeString();
    html += `<span class="st-${esc(v)}" title="${esc(at + ': ' + v)}"></span>`;
  });
  const strip = $('uplink-strip');
  strip.innerHTML = html;
  strip.dataset.points = String(st.length);
  $('uplink-axis').textContent = st.length ? `last ${dur(st.length * h.step_s)} (one mark per ${h.step_s} s); the left part is before the appliance started` : 'no samples yet (one every ' + h.step_s + ' s)';
}

// --- machines -----------------------------------------------------------------

function sparkline(scores, raise, clear) {
  const W = 180, H = 34, P = 3;
  if (!scores.length) return '<span class="muted small">no scores yet</span>';
  const vals = scores.concat([raise, clear].filter(v => v != null));
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const x = i => P + (W - 2 * P) * (scores.length === 1 ? 1 : i / (scores.length - 1));
  const y = v => H - P - (H - 2 * P) * (v - lo) / (hi - lo);
  const pts = scores.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
  const line = (v, c, label) => v == null ? '' :
    `<line class="${c}" x1="${P}" x2="${W - P}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"><title>${label} ${v}</title></line>`;
  return `<svg class="spark" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="last ${scores.length} scores">` +
    line(raise, 'raise', 'raise at') + line(clear, 'clear', 'clear at') + `<polyline class="line" points="${pts}"/></svg>`;
}

function renderMachines(s, h) {
  const m = s.model || {}, mean = meaning(m);
  const spark = {};
  for (const d of list(h.devices)) spark[d.device] = d.scores;
  $('semantics').textContent = m.loaded ? `score = ${mean.words}; alert when ${mean.when} the threshold` : 'no model loaded';
  $('hysteresis').innerHTML = m.loaded ? hysteresisText(m, mean) : '';
  const rows = list(s.devices).map(d => {
    const stuck = list(d.stuck);
    return `<tr data-device="${esc(d.device)}" class="${d.alert ? 'alert' : ''}">` +
      `<td>${esc(d.device)}${d.offline ? ' <span class="bad" title="Sparkplug death (NDEATH/DDEATH); back at its next birth">offline</span>' : ''}</td>` +
      `<td class="num" title="${esc(mean.words)}">${d.score == null ? '–' : mean.fmt(d.score)}</td>` +
      `<td>${sparkline(spark[d.device] || [], m.loaded ? m.raise : null, m.loaded ? m.clear : null)}</td>` +
      `<td>${d.alert ? '<b class="bad">ALERT</b>' + (d.alert_since ? ' since ' + when(d.alert_since) : '') : '<span class="ok">ok</span>'}</td>` +
      `<td>${when(d.last_seen)}</td>` +
      `<td>${stuck.length ? stuck.map(x => `<span class="warn">${esc(x)}</span>`).join(', ') : '<span class="muted">none</span>'}</td></tr>`;
  });
  const tb = $('machines').tBodies[0];
  tb.innerHTML = rows.join('') || '<tr><td colspan="6" class="muted">no machines have reported yet</td></tr>';
  $('machines').dataset.rows = String(rows.length);
}

function hysteresisText(m, mean) {
  const f = mean.fmt, up = mean.when === 'above';
  return `Alerts use hysteresis: a machine enters ALERT when its score goes ${up ? 'above' : 'below'} <b>raise ${f(m.raise)}</b> ` +
    `and leaves it only when the score comes back ${up ? 'below' : 'above'} <b>clear ${f(m.clear)}</b>. ` +
    `Between the two a machine keeps its state, so a machine in ALERT can show a ${up ? 'lower' : 'higher'} score than one that is not.` +
    (m.thresholds_overridden ? ' (Thresholds set by inference.thresholds, not by the model.)' : '') +
    ' In the sparklines: <span class="bad">red dashes</span> raise, <span class="ok">green dashes</span> clear.';
}

// --- model, streams, alerts -------------------------------------------------

function renderModel(s) {
  const m = s.model || {}, mean = meaning(m);
  const rows = [];
  const row = (k, v) => rows.push(`<dt>${esc(k)}</dt><dd>${v}</dd>`);
  if (!m.loaded) row('model', '<span class="bad">none loaded</span>');
  else {
    row('name', esc(m.name)); row('version', esc(m.version));
    row('score', esc(mean.words));
    row('thresholds', `raise ${mean.fmt(m.raise)}, clear ${mean.fmt(m.clear)} (alert when ${esc(mean.when)})${m.thresholds_overridden ? ', from inference.thresholds' : ''}`);
    row('signed by', m.key_id ? `key <code>${esc(m.key_id)}</code>` : '<span class="warn">unsigned</span>');
    row('activated', m.activated_at ? when(m.activated_at) : '–');
    const d = m.drift;
    row('drift', d ? `${num(d.rows)} rows since ${when(d.since)}` + (list(d.top).length ? '<br>most drifted: ' +
      list(d.top).map(f => `${esc(f.feature)} ${num(f.score, 2)}` + (f.psi != null ? ` (PSI ${num(f.psi, 2)})` : '')).join(', ') : '') : '<span class="muted">no report yet</span>');
  }
  const r = m.last_rejection;
  row('last rejection', r ? `<span class="bad">${esc(r.model || '')} ${esc(r.version)}</span>: ${esc(r.reason)} (${when(r.time)})` : '<span class="muted">none</span>');
  const offered = list(s.models).map(o => `${esc(o.name)}${o.active ? ' ' + esc(o.active) : ''}${o.state ? ' (' + esc(o.state) + ')' : ''}`);
  row('models topic', offered.length ? offered.join(', ') : '<span class="muted">offers none for this gateway</span>');
  $('model').innerHTML = rows.join('');
}

function renderStreams(s) {
  const rows = list((s.uplink || {}).streams).map(st => {
    const dropped = Object.entries(st.dropped || {});
    const nd = dropped.reduce((a, [, n]) => a + n, 0);
    return `<tr data-stream="${esc(st.stream)}"><td>${esc(st.stream)}</td><td><code>${esc(st.topic)}</code></td>` +
      `<td class="num">${num(st.sent)}</td><td class="num">${num(st.acked)}</td>` +
      `<td class="num" title="${esc(dropped.map(([k, n]) => k + ': ' + n).join(', '))}">${nd ? '<span class="bad">' + num(nd) + '</span>' : '0'}</td>` +
      `<td class="num">${num(st.in_flight)}</td><td class="num">${num(st.records)}</td><td class="num">${dur(st.oldest_age_s)}</td>` +
      `<td>${st.failing ? '<span class="bad">failing</span>' + (st.last_error ? ': ' + esc(st.last_error) : '') : '<span class="ok">ok</span>'}</td></tr>`;
  });
  $('streams').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="9" class="muted">no streams</td></tr>';
}

function renderAlerts(h, s) {
  const mean = meaning(s.model);
  const rows = list(h.alerts).slice().reverse().map(a =>
    `<tr class="${a.state === 'raised' ? 'alert' : ''}"><td>${when(a.time)}</td><td>${esc(a.device)}</td>` +
    `<td>${a.state === 'raised' ? '<b class="bad">raised</b>' : '<span class="ok">cleared</span>'}</td>` +
    `<td class="num">${mean.fmt(a.score)}</td><td class="num">${mean.fmt(a.threshold)}</td></tr>`);
  $('alerts').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="5" class="muted">no alerts since the appliance started</td></tr>';
  $('alerts').dataset.rows = String(rows.length);
}

tick();
setInterval(tick, POLL_MS);
