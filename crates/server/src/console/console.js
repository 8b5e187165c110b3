// certherd web console: calls the admin API as the logged-in credential (a session
// cookie with its CSRF token, or the browser's client certificate). Every piece of data
// is put in the page as text, never as markup.
'use strict';

const state = { who: null, csrf: null, tab: 'inventory', rows: [], revoking: null };

const $ = (id) => document.getElementById(id);

// The most characters a piece of data shows: a certificate or a host chooses its names,
// and a subject of hundreds of attributes must not make the page unusable. The API's JSON
// keeps every character.
const SHOWN_MAX = 120;

// `text` cut to SHOWN_MAX characters (code points, never half of one), ending in '…'
// when anything was cut.
function cut(text) {
  const s = String(text);
  if (s.length <= SHOWN_MAX) return s;
  const chars = Array.from(s);
  return chars.length <= SHOWN_MAX ? s : `${chars.slice(0, SHOWN_MAX - 1).join('')}…`;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = cut(text);
  if (cls) e.className = cls;
  return e;
}

function banner(text, kind) {
  const b = $('banner');
  if (!text) { b.hidden = true; b.textContent = ''; return; }
  b.textContent = text;
  b.className = kind || 'error';
  b.hidden = false;
}

// A refusal of the API, shown with its status and stable code.
class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  toString() {
    const what = this.code === 'reader_only'
      ? 'Refused (reader credential): '
      : this.code === 'csrf_refused' ? 'Refused (CSRF): ' : 'Refused: ';
    return `${what}${this.status} ${this.code}: ${this.message}`;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!r.ok) {
    const code = (json && json.code) || 'error';
    const message = (json && (json.message || json.error)) || text || r.statusText;
    throw new Refused(r.status, code, message);
  }
  return json;
}

function day(rfc) {
  return rfc ? rfc.slice(0, 10) : '';
}

function statusClass(s) {
  if (s === 'ok') return 'ok';
  if (s === 'expiring' || s === 'warn') return 'warn';
  if (['critical', 'expired', 'invalid', 'not-yet-valid', 'revoked'].includes(s)) return 'bad';
  return 'other';
}

function isAdmin() {
  return state.who && state.who.role === 'admin';
}

// Action buttons: disabled for a reader (the server refuses them anyway).
function action(label, cls, onClick) {
  const b = el('button', label, `action ${cls}`);
  b.type = 'button';
  if (!isAdmin()) {
    b.disabled = true;
    b.title = 'needs an admin credential (this is a reader\'s)';
  }
  b.addEventListener('click', onClick);
  return b;
}

async function run(what, f) {
  try {
    banner(null);
    await f();
  } catch (e) {
    banner(e instanceof Refused ? e.toString() : `${what}: ${e}`);
  }
}

// ---- session ----

async function loadSession() {
  try {
    state.who = await api('GET', '/console/session');
  } catch (e) {
    state.who = null;
    if (!(e instanceof Refused) || e.status !== 401) banner(String(e));
  }
  state.csrf = state.who ? state.who.csrf_token : null;
  render();
}

function render() {
  const who = state.who;
  $('login').hidden = !!who;
  $('app').hidden = !who;
  $('who').hidden = !who;
  if (!who) {
    // Nothing of the last session stays on the page.
    for (const t of document.querySelectorAll('main table tbody')) t.replaceChildren();
    $('timeline-box').replaceChildren();
    $('host-token-command').textContent = '';
    $('host-token').hidden = true;
    $('revoke-form').hidden = true;
    state.tab = 'inventory';
    return;
  }
  $('who-name').textContent = who.name;
  $('who-role').textContent = who.role;
  $('who-role').className = `role ${who.role}`;
  $('who-via').textContent = who.via === 'session'
    ? `session until ${who.expires_at}` : 'client certificate';
  $('logout').hidden = who.via !== 'session';
  $('readonly').hidden = isAdmin();
  for (const id of ['host-add', 'trust-add', 'revoke-confirm']) {
    $(id).disabled = !isAdmin();
    $(id).title = isAdmin() ? '' : 'needs an admin credential (this is a reader\'s)';
  }
  show(state.tab);
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run('login', async () => {
    const token = $('token').value.trim();
    state.who = await api('POST', '/console/login', { token });
    $('token').value = '';
    state.csrf = state.who.csrf_token;
    render();
  });
});

$('logout').addEventListener('click', () => run('logout', async () => {
  await api('POST', '/console/logout');
  state.who = null;
  state.csrf = null;
  render();
  banner('Logged out.', 'info');
}));

// ---- tabs ----

function show(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll('#tabs .tab')) {
    b.classList.toggle('current', b.dataset.tab === tab);
  }
  for (const p of document.querySelectorAll('.page')) {
    p.hidden = p.id !== `page-${tab}`;
  }
  const load = { inventory: loadInventory, alarms: loadAlarms, forecast: loadForecast, hosts: loadHosts, trust: loadTrust }[tab];
  run(tab, load);
}

for (const b of document.querySelectorAll('#tabs .tab')) {
  b.addEventListener('click', () => show(b.dataset.tab));
}

// ---- inventory ----

function fillSelect(select, values) {
  const current = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const v of [...new Set(values)].filter((x) => x).sort()) {
    const o = el('option', v);
    o.value = v;
    select.appendChild(o);
  }
  select.value = values.includes(current) ? current : '';
}

async function loadInventory() {
  const all = await api('GET', '/v1/certificates');
  fillSelect($('f-store'), all.map((r) => r.store));
  fillSelect($('f-profile'), all.map((r) => r.profile || ''));
  fillSelect($('f-status'), all.map((r) => r.status));
  const q = new URLSearchParams();
  for (const [k, id] of [['store', 'f-store'], ['profile', 'f-profile'], ['status', 'f-status']]) {
    if ($(id).value) q.set(k, $(id).value);
  }
  const rows = q.toString() ? await api('GET', `/v1/certificates?${q}`) : all;
  state.rows = rows;
  const body = $('inventory').tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const entry = `${r.store}/${r.alias}`;
    const tr = el('tr');
    tr.dataset.entry = entry;
    tr.appendChild(el('td', entry));
    tr.appendChild(el('td', r.subject));
    tr.appendChild(el('td', r.profile || ''));
    const na = el('td', day(r.not_after), 'not-after');
    na.title = r.not_after;
    tr.appendChild(na);
    tr.appendChild(el('td', r.days_left, `days ${statusClass(r.status)}`));
    tr.appendChild(el('td', r.status, `status ${statusClass(r.status)}`));
    tr.appendChild(el('td', r.auto_renew ? 'yes' : 'no'));
    const acts = el('td', null, 'actions');
    // The CA is rotated, not renewed or revoked, and backups are history.
    const actionable = !['backup', 'ca', 'trusted-roots'].includes(r.store);
    if (r.has_key && actionable) {
      const renew = action('Renew', 'renew', () => renewEntry(r));
      renew.dataset.entry = entry;
      acts.appendChild(renew);
    }
    if (r.source === 'issued' && actionable) {
      const revoke = action('Revoke', 'revoke danger', () => askRevoke(r));
      revoke.dataset.entry = entry;
      acts.appendChild(revoke);
    }
    tr.appendChild(acts);
    body.appendChild(tr);
  }
}

for (const id of ['f-store', 'f-profile', 'f-status']) {
  $(id).addEventListener('change', () => run('inventory', loadInventory));
}
$('refresh').addEventListener('click', () => run('inventory', loadInventory));

const path = (r) => `/v1/certificates/${encodeURIComponent(r.store)}/${encodeURIComponent(r.alias)}`;

function renewEntry(r) {
  run('renew', async () => {
    const a = await api('POST', `${path(r)}/renew`);
    await loadInventory();
    banner(`Renewed ${r.store}/${r.alias}: not after ${a.certificate.not_after} (${a.certificate.days_left} days); the old one is ${a.backup}.`, 'info');
  });
}

function askRevoke(r) {
  state.revoking = r;
  $('revoke-entry').textContent = `${r.store}/${r.alias}`;
  $('revoke-form').hidden = false;
}

$('revoke-cancel').addEventListener('click', () => { $('revoke-form').hidden = true; });
$('revoke-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const r = state.revoking;
  if (!r) return;
  run('revoke', async () => {
    const a = await api('POST', `${path(r)}/revoke`, { reason: $('revoke-reason').value });
    $('revoke-form').hidden = true;
    await loadInventory();
    banner(`Revoked ${a.entry} (serial ${a.serial}, ${a.reason})${a.crl_number ? `; CRL number ${a.crl_number}` : ' already'}.`, 'info');
  });
});

// ---- alarms ----

async function loadAlarms() {
  const rows = await api('GET', `/v1/alarms${$('alarms-all').checked ? '?all=true' : ''}`);
  const body = $('alarms').tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'No open alarms.');
    td.colSpan = 3;
    tr.appendChild(td);
    body.appendChild(tr);
  }
  for (const a of rows) {
    const tr = el('tr');
    tr.dataset.kind = a.kind;
    tr.dataset.subject = a.subject;
    tr.appendChild(el('td', a.kind, a.kind.startsWith('expiring') ? 'warn' : 'bad'));
    tr.appendChild(el('td', a.subject));
    tr.appendChild(el('td', a.raised_at));
    body.appendChild(tr);
  }
}
$('alarms-all').addEventListener('change', () => run('alarms', loadAlarms));

// ---- forecast ----

async function loadForecast() {
  const r = await fetch('/console/timeline.svg', { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Refused(r.status, 'error', await r.text());
  // Parsed as HTML (which puts <svg> in the SVG namespace); scripts never run from it.
  const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
  const svg = doc.querySelector('svg');
  const box = $('timeline-box');
  box.replaceChildren(...(svg ? [document.importNode(svg, true)] : []));
  const f = await api('GET', `/v1/forecast?days=${encodeURIComponent($('forecast-days').value)}`);
  const body = $('forecast').tBodies[0];
  body.replaceChildren();
  for (const i of f.items) {
    const tr = el('tr', null, i.covered ? '' : 'uncovered');
    tr.appendChild(el('td', day(i.not_after)));
    tr.appendChild(el('td', i.entry));
    tr.appendChild(el('td', i.impact));
    tr.appendChild(el('td', (i.affected || []).join(', ')));
    tr.appendChild(el('td', i.covered ? 'yes' : 'no'));
    body.appendChild(tr);
  }
}

$('forecast-days').addEventListener('change', () => run('forecast', loadForecast));

// ---- hosts ----

function certCell(row) {
  const td = el('td');
  if (!row) { td.textContent = '—'; return td; }
  td.appendChild(el('span', `${day(row.not_after)} (${row.days_left} d)`, statusClass(row.status)));
  td.title = `${cut(`${row.store}/${row.alias}`)}: ${cut(row.subject)}, serial ${row.serial}, sha256 ${row.sha256}`;
  return td;
}

async function loadHosts() {
  const [hosts, certs] = await Promise.all([api('GET', '/v1/hosts'), api('GET', '/v1/certificates')]);
  const find = (store, name) => certs.find((c) => c.store === store && c.alias === name);
  const body = $('hosts').tBodies[0];
  body.replaceChildren();
  for (const h of hosts) {
    const tr = el('tr');
    tr.dataset.host = h.name;
    tr.appendChild(el('td', h.name));
    tr.appendChild(el('td', (h.ips || []).join(', ')));
    tr.appendChild(el('td', h.joined_at || 'not yet'));
    tr.appendChild(el('td', h.last_seen || ''));
    tr.appendChild(certCell(find('fleet-hosts', h.name)));
    const pool = certCell(find('fleet-pool', h.name));
    if (h.pool_internal_sha256) pool.title = `pinned sha256 ${h.pool_internal_sha256}`;
    tr.appendChild(pool);
    tr.appendChild(el('td', h.renew_pending ? 'yes' : 'no'));
    body.appendChild(tr);
  }
}

$('host-add-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run('host add', async () => {
    const ips = $('host-ips').value.split(/[\s,]+/).filter((x) => x);
    const a = await api('POST', '/v1/hosts', { name: $('host-name').value.trim(), ips });
    $('host-name').value = '';
    $('host-ips').value = '';
    $('host-token-name').textContent = a.host.name;
    $('host-token-expires').textContent = a.token_expires_at;
    const ipArgs = (a.host.ips || []).map((ip) => ` --ip ${ip}`).join('');
    $('host-token-command').textContent =
      `certherd agent join --server ${location.origin} --token ${a.token} --ca-fingerprint ${a.ca_fingerprint} --hostname ${a.host.name}${ipArgs}`;
    $('host-token').hidden = false;
    await loadHosts();
  });
});
$('host-token-done').addEventListener('click', () => {
  $('host-token-command').textContent = '';
  $('host-token').hidden = true;
});

// ---- trust ----

async function loadTrust() {
  const rows = await api('GET', '/v1/trust');
  const body = $('trust').tBodies[0];
  body.replaceChildren();
  for (const t of rows) {
    const tr = el('tr');
    tr.appendChild(el('td', t.alias));
    tr.appendChild(el('td', t.subject));
    tr.appendChild(el('td', day(t.not_after)));
    tr.appendChild(el('td', t.sha256, 'hash'));
    body.appendChild(tr);
  }
}

$('trust-add-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run('trust add', async () => {
    const a = await api('POST', '/v1/trust', { pem: $('trust-pem').value });
    $('trust-pem').value = '';
    await loadTrust();
    const names = (xs) => xs.map((t) => t.subject).join('; ');
    banner(`Trusted: ${names(a.added) || 'nothing new'}${a.already.length ? `; already trusted: ${names(a.already)}` : ''}${a.warnings.length ? `; warnings: ${a.warnings.join('; ')}` : ''}`, 'info');
  });
});

loadSession();
