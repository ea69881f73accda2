// edgepm fleet console: polls api/fleet (v1) every few seconds and renders
// it. Read-only: nothing on this page changes the fleet. After each
// complete render it sets data-rendered on <body> (a counter) and
// data-rows on each table; a script error sets data-js-error (the
// headless Chromium test, make test-ui, checks both).
'use strict';
const POLL_MS = 3000;
let renders = 0;

function scriptFailed(err) {
  document.body.dataset.jsError = String(err && err.stack || err);
  showError('page error: ' + err);
}
window.addEventListener('error', e => scriptFailed(e.error || e.message));
window.addEventListener('unhandledrejection', e => scriptFailed(e.reason));

function $(id) { return document.getElementById(id); }
function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c])); }
function showError(msg) { const e = $('error'); e.hidden = !msg; e.textContent = msg || ''; }
function num(v, d = 0) { return v == null ? '–' : Number(v).toLocaleString(undefined, {maximumFractionDigits: d, minimumFractionDigits: d}); }
function dur(s) {
  if (s == null) return '–';
  s = Math.max(0, s);
  if (s < 90) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  if (s < 5400) return (s / 60).toFixed(0) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
function time(iso) {
  const t = new Date(iso); if (isNaN(t)) return esc(iso);
  return `<span title="${esc(t.toISOString())}">${esc(t.toLocaleString())}</span>`;
}
function list(v) { return Array.isArray(v) ? v : []; }
function fill(id, rows) {
  const t = $(id);
  t.tBodies[0].innerHTML = rows.join('');
  t.dataset.rows = rows.length;
}

async function tick() {
  let f;
  try {
    const r = await fetch('api/fleet', {cache: 'no-store'});
    if (r.status === 401) { location.reload(); return; }
    if (!r.ok) throw new Error('api/fleet: HTTP ' + r.status);
    f = await r.json();
  } catch (e) {
    showError('fleet view unavailable: ' + e.message);
    return;
  }
  showError('');
  render(f);
}

function render(f) {
  const c = f.counts || {};
  const st = $('state');
  st.textContent = !f.caught_up ? 'catching up…' : c.stale ? `${c.stale} stale` :
    c.stopped ? `${c.stopped} stopped, the rest reporting` : 'all reporting';
  st.className = 'badge ' + (!f.caught_up ? '' : c.stale ? 'bad' : 'ok');
  $('meta').textContent = `view of ${new Date(f.time).toLocaleString()}, API v${f.v}`;
  $('tiles').innerHTML = [['gateways', num(c.gateways)], ['stale', num(c.stale)], ['stopped', num(c.stopped)], ['active alerts', num(c.alerts_active)],
    ['models', num(list(f.models).length)], ['ignored records', num(c.bad_records)]]
    .map(([k, v]) => `<div class="tile"><b>${k}</b>${v}</div>`).join('');
  fill('gateways', list(f.gateways).map(gatewayRow));
  fill('models', list(f.models).flatMap(modelRows));
  fill('rollouts', list(f.rollouts).map(rolloutRow));
  fill('recent', list(f.recent).map(recentRow));
  document.body.dataset.rendered = ++renders;
}

function gatewayRow(g) {
  const m = g.model, s = g.shadow;
  const model = m ? `${esc(m.name)}:${esc(m.version)}` : '–';
  const state = m ? `<span class="tag ${m.state === 'active' ? 'ok' : m.state === 'rejected' ? 'bad' : 'warn'}">${esc(m.state)}</span>` +
    (m.rejected ? ` <span class="bad small">rejected ${esc(m.rejected)}</span>` : '') : '–';
  let shadow = '–';
  if (s) {
    shadow = `${esc(s.version)} <span class="muted small">${num(s.windows)} windows` +
      (s.alert_agreement != null ? `, agree ${num(100 * s.alert_agreement, 1)}%` : '') + '</span>';
  }
  const conds = list(g.conditions);
  return `<tr data-gateway="${esc(g.id)}" class="${g.stale ? 'stale' : g.stopped ? 'stopped' : ''}"><td>${esc(g.id)}</td>` +
    `<td class="seen">${dur(g.age_s)} ago${g.stale ? ' STALE' : g.stopped ? ' stopped' : ''}</td><td>${esc(g.version)}</td><td>${model}</td><td>${state}</td>` +
    `<td>${shadow}</td><td class="st">${esc(g.uplink)}</td><td class="num">${num(g.backlog_records)}</td>` +
    `<td class="num${g.alerts_active ? ' bad' : ''}">${num(g.alerts_active)}</td>` +
    `<td title="${esc(conds.join('\n'))}">${conds.length ? `<span class="tag warn">${conds.length}</span> ${esc(conds[0])}` : '<span class="ok">healthy</span>'}</td></tr>`;
}

function modelRows(m) {
  const shadows = list(m.shadows).map(s => `${esc(s.version)} (${num(s.gateways)})`).join(', ') || '–';
  return list(m.versions).map((v, i) => `<tr data-model="${esc(m.name)}"><td>${i ? '' : esc(m.name)}</td><td>${esc(v.version)}</td>` +
    `<td class="num">${num(v.gateways)}</td><td class="num">${num(v.stale)}</td><td>${i ? '' : shadows}</td></tr>`);
}

function rolloutRow(r) {
  const canary = list(r.canary).join(', ') || '–';
  return `<tr data-rollout="${esc(r.model)}"><td>${esc(r.model)}</td><td>${esc(r.action)}</td><td>${esc(r.version)}</td>` +
    `<td>${esc(r.stable || '–')}</td><td>${esc(canary)}</td>` +
    `<td><progress class="${esc(r.state)}" max="${r.targets || 1}" value="${r.targets ? r.updated : 1}"></progress> ${num(r.updated)}/${num(r.targets)}` +
    (r.rejected ? ` <span class="bad">${num(r.rejected)} rejected</span>` : '') + '</td>' +
    `<td><span class="tag ${r.state === 'done' ? 'ok' : r.state === 'failing' ? 'bad' : 'warn'}">${esc(r.state)}</span></td>` +
    `<td>${time(r.issued)}${r.reason ? ` <span class="muted small">${esc(r.reason)}</span>` : ''}</td></tr>`;
}

function recentRow(e) {
  const hot = e.type === 'alert.raised' || e.type === 'model.rejected' || e.type === 'rollout.aborted';
  return `<tr class="${hot ? 'alert' : ''}" data-type="${esc(e.type)}"><td>${time(e.time)}</td><td>${esc(e.gateway)}</td>` +
    `<td>${esc(e.type)}</td><td>${esc(e.device || '–')}</td><td>${esc(e.model || '–')}</td><td class="small">${esc(e.summary || '')}</td></tr>`;
}

tick();
setInterval(tick, POLL_MS);
