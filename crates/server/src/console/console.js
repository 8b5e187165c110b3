// certherd web console: calls the admin API as the logged-in credential (a session
// cookie with its CSRF token, or the browser's client certificate). Every piece of data
// is put in the page as text, never as markup.
'use strict';

const state = {
  who: null,
  csrf: null,
  tab: 'inventory',
  rows: [],
  revoking: null,
  removing: null,
  // Fleet renew: the hosts ordered, and the timer following them.
  fleet: { following: [], timer: null },
  // Audit log: the first record shown (null: the newest page), the total matching, the
  // actions seen so far (offered in the action filter).
  audit: { offset: null, total: 0, actions: new Set() },
};

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
    $('host-remove-form').hidden = true;
    $('ca-step').hidden = true;
    $('fleet-progress').hidden = true;
    $('fleet-progress').textContent = '';
    $('audit-range').textContent = '';
    $('a-actions').replaceChildren();
    stopFleet();
    state.fleet.following = [];
    state.audit = { offset: null, total: 0, actions: new Set() };
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
  for (const id of ['host-add', 'trust-add', 'revoke-confirm', 'host-remove-confirm', 'crl-add', 'fleet-renew', 'ca-rotate']) {
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
  const load = {
    inventory: loadInventory,
    alarms: loadAlarms,
    forecast: loadForecast,
    hosts: loadHosts,
    trust: loadTrust,
    crls: loadCrls,
    fleet: loadFleet,
    ca: loadCa,
    audit: loadAudit,
  }[tab];
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
    const acts = el('td', null, 'actions');
    for (const [label, cls, f] of [
      ['Reset server cert', 'host-reset', () => hostOrder(h.name, 'reset-server-cert', 'reset its server certificate to a fresh self-signed one')],
      ['Refresh pool cert', 'host-refresh', () => hostOrder(h.name, 'refresh-pool-cert', 'refresh its pool-internal certificate')],
      ['Remove', 'host-remove danger', () => askRemove(h.name)],
    ]) {
      const b = action(label, cls, f);
      b.dataset.host = h.name;
      acts.appendChild(b);
    }
    tr.appendChild(acts);
    body.appendChild(tr);
  }
}

const hostPath = (name) => `/v1/hosts/${encodeURIComponent(name)}`;

function hostOrder(name, what, words) {
  run(what, async () => {
    const a = await api('POST', `${hostPath(name)}/${what}`);
    await loadHosts();
    banner(`Ordered ${a.hosts.join(', ')} to ${words} at its next poll.`, 'info');
  });
}

function askRemove(name) {
  state.removing = name;
  $('host-remove-name').textContent = name;
  $('host-remove-form').hidden = false;
}

$('host-remove-cancel').addEventListener('click', () => {
  state.removing = null;
  $('host-remove-form').hidden = true;
});
$('host-remove-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = state.removing;
  if (!name) return;
  run('host remove', async () => {
    const a = await api('DELETE', hostPath(name));
    state.removing = null;
    $('host-remove-form').hidden = true;
    await loadHosts();
    const revoked = a.revoked.map((r) => `${r.entry} (serial ${r.serial}, ${r.reason})`).join('; ');
    banner(`Removed ${a.host}; revoked: ${revoked || 'nothing'}.`, 'info');
  });
});

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

// ---- CRLs ----

async function loadCrls() {
  const rows = await api('GET', '/v1/trust/crls');
  const body = $('crls').tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) body.appendChild(emptyRow('No CRLs trusted.', 6));
  for (const c of rows) {
    const tr = el('tr');
    tr.dataset.sha256 = c.sha256;
    tr.appendChild(el('td', c.issuer));
    tr.appendChild(el('td', c.this_update));
    tr.appendChild(el('td', c.next_update || '—'));
    tr.appendChild(el('td', c.revoked, 'revoked-count'));
    tr.appendChild(el('td', c.added_at));
    tr.appendChild(el('td', c.sha256, 'hash'));
    body.appendChild(tr);
  }
}

function emptyRow(text, span) {
  const tr = el('tr', null, 'empty');
  const td = el('td', text);
  td.colSpan = span;
  tr.appendChild(td);
  return tr;
}

$('crl-add-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run('CRL add', async () => {
    const c = await api('POST', '/v1/trust/crls', { pem: $('crl-pem').value });
    $('crl-pem').value = '';
    await loadCrls();
    banner(`Added the CRL of ${c.issuer}: ${c.revoked} revoked, next update ${c.next_update || 'none'}.`, 'info');
  });
});

// ---- fleet renew ----

function stopFleet() {
  if (state.fleet.timer) clearTimeout(state.fleet.timer);
  state.fleet.timer = null;
}

// Shows every host and, for those ordered, whether it has fetched its new certificate
// (renew_pending cleared at its poll); follows them every second until all have.
async function loadFleet() {
  stopFleet();
  const hosts = await api('GET', '/v1/hosts');
  if (state.fleet.following.length === 0) {
    state.fleet.following = hosts.filter((h) => h.renew_pending).map((h) => h.name);
  }
  const following = new Set(state.fleet.following);
  const body = $('fleet').tBodies[0];
  body.replaceChildren();
  if (hosts.length === 0) body.appendChild(emptyRow('No hosts.', 3));
  const waiting = [];
  for (const h of hosts) {
    const tr = el('tr');
    tr.dataset.host = h.name;
    tr.appendChild(el('td', h.name));
    tr.appendChild(el('td', h.last_seen || 'never'));
    let what = '—';
    let cls = 'other';
    if (h.renew_pending) {
      what = 'ordered: waiting for its next poll';
      cls = 'warn';
      waiting.push(h.name);
    } else if (following.has(h.name)) {
      what = 'renewed';
      cls = 'ok';
    }
    const td = el('td', what, `renewal ${cls}`);
    td.dataset.state = h.renew_pending ? 'waiting' : following.has(h.name) ? 'done' : 'none';
    tr.appendChild(td);
    body.appendChild(tr);
  }
  const p = $('fleet-progress');
  const total = state.fleet.following.length;
  p.hidden = total === 0;
  if (total === 0) return;
  const done = state.fleet.following.filter((n) => !waiting.includes(n)).length;
  p.textContent = waiting.length === 0
    ? `Fleet renewal done: ${done} of ${total} hosts renewed.`
    : `Renewed ${done} of ${total}; waiting for ${waiting.join(', ')}.`;
  p.className = `progress ${waiting.length === 0 ? 'ok' : 'warn'}`;
  p.dataset.done = String(done);
  p.dataset.total = String(total);
  if (waiting.length > 0) {
    // Followed without run(), which would clear the banner (the order's answer) each second.
    state.fleet.timer = setTimeout(() => {
      state.fleet.timer = null;
      if (state.who) {
        loadFleet().catch((e) => banner(e instanceof Refused ? e.toString() : `fleet: ${e}`));
      }
    }, 1000);
  }
}

$('fleet-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run('fleet renew', async () => {
    const hosts = $('fleet-hosts').value.split(/[\s,]+/).filter((x) => x);
    const a = await api('POST', '/v1/fleet/renew', { hosts });
    state.fleet.following = a.hosts;
    banner(a.hosts.length
      ? `Ordered new host certificates for ${a.hosts.join(', ')}.`
      : 'No joined host to order a renewal from.', 'info');
    await loadFleet();
  });
});

// ---- CA rotation ----

// Rows of label and value (a list is joined; empty: none) into a facts table.
function facts(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [key, label, value] of rows) {
    const tr = el('tr');
    tr.dataset.key = key;
    tr.appendChild(el('th', label));
    const shown = Array.isArray(value) ? (value.length ? value.join(', ') : 'none') : value;
    tr.appendChild(el('td', shown === null || shown === undefined || shown === '' ? '—' : shown));
    body.appendChild(tr);
  }
}

function stages(current, done) {
  for (const li of document.querySelectorAll('#ca-stages li')) {
    li.className = done.includes(li.dataset.stage) ? 'done' : li.dataset.stage === current ? 'current' : '';
  }
}

async function loadCa() {
  const c = await api('GET', '/v1/ca');
  facts($('ca'), [
    ['mode', 'Mode', c.mode],
    ['entry', 'Signing CA', c.entry],
    ['subject', 'Subject', c.subject],
    ['issuer', 'Issuer', c.issuer],
    ['not_after', 'Not after', c.not_after],
    ['public_key', 'Public key', c.public_key],
    ['sha256', 'SHA-256', c.sha256],
    ['root_subject', 'Root', c.root_subject],
    ['root_sha256', 'Root SHA-256 (agents pin it)', c.root_sha256],
    ['retiring', 'Retiring (rotation in progress)', c.retiring || 'no rotation in progress'],
    ['pending', 'Waiting for its signed certificate', c.pending ? 'yes' : 'no'],
  ]);
  if (c.retiring) stages('waiting', ['new']);
  else stages('new', []);
  $('ca-rotate').textContent = c.retiring ? 'Rotate: next step' : 'Rotate: start';
}

$('ca-rotate').addEventListener('click', () => run('ca rotate', async () => {
  const r = await api('POST', '/v1/ca/rotate');
  facts($('ca-result'), [
    ['new_ca', 'New CA', `${r.new_ca} (sha256 ${r.new_sha256})`],
    ['old_ca', 'Old CA', r.old_ca],
    ['reissued', 'Reissued', r.reissued],
    ['failed', 'Failed', r.failed.map((f) => `${f.entry}: ${f.error}`)],
    ['skipped', 'Skipped', r.skipped.map((f) => `${f.entry}: ${f.detail}`)],
    ['ordered', 'Hosts ordered to renew', r.ordered],
    ['waiting_for', 'Waiting for', r.waiting_for],
    ['retired', 'Old root retired', r.retired ? 'yes' : 'no'],
  ]);
  $('ca-step').hidden = false;
  await loadCa();
  // The stage this step reached: hosts still without the new root, then hosts still
  // renewing (what the old CA issued remains), then done.
  if (r.retired) {
    stages(null, ['new', 'waiting', 'reissue', 'retired']);
    banner(`Rotation done: ${r.new_ca} signs and the old root is retired.`, 'info');
  } else if (r.waiting_for.length) {
    stages('waiting', ['new']);
    banner(`Rotation under way: waiting for ${r.waiting_for.join(', ')} to hold the new root; rotate again once they have.`, 'info');
  } else {
    stages('retired', ['new', 'waiting', 'reissue']);
    banner(`Rotation under way: ${r.reissued.length} reissued, ${r.ordered.length ? `${r.ordered.join(', ')} ordered to renew` : 'no host ordered'}; rotate again once the hosts have renewed.`, 'info');
  }
}));

// ---- audit ----

// A datetime-local value, taken as UTC, as RFC 3339.
function utc(value) {
  if (!value) return null;
  return value.length === 16 ? `${value}:00Z` : `${value}Z`;
}

function auditQuery(offset, limit) {
  const q = new URLSearchParams();
  q.set('offset', String(offset));
  q.set('limit', String(limit));
  const action = $('a-action').value.trim();
  const subject = $('a-subject').value.trim();
  if (action) q.set('action', action);
  if (subject) q.set('subject', subject);
  const since = utc($('a-since').value);
  const until = utc($('a-until').value);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  return `/v1/audit?${q}`;
}

async function loadAudit() {
  const limit = Number($('a-limit').value);
  let page = await api('GET', auditQuery(state.audit.offset === null ? 0 : state.audit.offset, limit));
  // The newest page first: the log reads oldest first.
  if (state.audit.offset === null && page.total > limit) {
    page = await api('GET', auditQuery(page.total - limit, limit));
  }
  state.audit.offset = page.offset;
  state.audit.total = page.total;
  const body = $('audit').tBodies[0];
  body.replaceChildren();
  if (page.records.length === 0) body.appendChild(emptyRow('No records match.', 4));
  for (const r of page.records) {
    state.audit.actions.add(r.action);
    const tr = el('tr');
    tr.dataset.action = r.action;
    tr.appendChild(el('td', r.at));
    tr.appendChild(el('td', r.action));
    tr.appendChild(el('td', r.subject));
    tr.appendChild(el('td', r.detail));
    body.appendChild(tr);
  }
  const list = $('a-actions');
  list.replaceChildren(...[...state.audit.actions].sort().map((a) => {
    const o = el('option');
    o.value = a;
    return o;
  }));
  const first = page.records.length ? page.offset + 1 : page.offset;
  $('audit-range').textContent = `records ${first}–${page.offset + page.records.length} of ${page.total}`;
  $('audit-first').disabled = page.offset === 0;
  $('audit-prev').disabled = page.offset === 0;
  $('audit-next').disabled = page.offset + page.records.length >= page.total;
  $('audit-last').disabled = page.offset + page.records.length >= page.total;
}

function auditAt(offset) {
  state.audit.offset = offset;
  run('audit', loadAudit);
}

$('audit-filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  auditAt(null);
});
$('a-limit').addEventListener('change', () => auditAt(null));
$('audit-first').addEventListener('click', () => auditAt(0));
$('audit-prev').addEventListener('click', () => auditAt(Math.max(0, state.audit.offset - Number($('a-limit').value))));
$('audit-next').addEventListener('click', () => auditAt(state.audit.offset + Number($('a-limit').value)));
$('audit-last').addEventListener('click', () => auditAt(null));

loadSession();
