// The console page: renders /api/state, refetches it on every "changed"
// event of /api/events, and sends the user's actions to the API (API.md).
// Everything from the network is put into the page as text, never as HTML.

import { t, setLang, getLang, size, when } from './i18n.js';
import { Screen } from './screen.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const enc = encodeURIComponent;
const running = new Set(['waiting', 'pairing', 'connected']);

let state = null;
let tab = 'consult';
let chosenLang = null;
try {
  chosenLang = localStorage.getItem('direkt.lang');
} catch {
  // storage disabled: the choice lasts for this page only
}

// el builds an element: props sets testid, class, text, href, title,
// dataset (data-*), type, disabled, and on* listeners.
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'testid') e.dataset.testid = v;
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'data') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'disabled') e.disabled = Boolean(v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) e.append(c);
  }
  return e;
}

class APIError extends Error {}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      msg = (await res.json()).error || msg;
    } catch {
      // not JSON: keep the status line
    }
    throw new APIError(msg);
  }
  if (res.status === 204) return null;
  return res.json();
}

let errorTimer = 0;
function showError(err) {
  const b = $('action-error');
  b.textContent = err instanceof Error ? err.message : String(err);
  b.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    b.hidden = true;
  }, 8000);
}

// act sends an action; the page updates when the state changes.
function act(method, path, body) {
  return api(method, path, body).catch(showError);
}

// refresh fetches the state; calls while one is in flight coalesce.
let inflight = false;
let again = false;
async function refresh() {
  if (inflight) {
    again = true;
    return;
  }
  inflight = true;
  try {
    do {
      again = false;
      render(await api('GET', '/api/state'));
      $('offline').hidden = true;
    } while (again);
  } catch (e) {
    if (e instanceof APIError) showError(e);
    else $('offline').hidden = false;
  } finally {
    inflight = false;
  }
}

function browserLang() {
  return (navigator.language || '').toLowerCase().startsWith('de') ? 'de' : 'en';
}

function applyLang(l) {
  setLang(l);
  $('lang').textContent = getLang() === 'de' ? 'EN' : 'DE';
  $('lang').title = getLang() === 'de' ? 'English' : 'Deutsch';
}

function safeHref(u) {
  try {
    const p = new URL(u);
    return p.protocol === 'http:' || p.protocol === 'https:' ? p.href : null;
  } catch {
    return null;
  }
}

function show(id, on) {
  const e = typeof id === 'string' ? document.getElementById(id) : id;
  e.hidden = !on;
}

// replaceIfChanged rebuilds a part of the page only when what it shows
// changed: a state refresh must not swap a button from under the pointer (a
// click would then land on a node that no longer exists).
function replaceIfChanged(node, ...kids) {
  const probe = document.createElement(node.tagName);
  probe.replaceChildren(...kids);
  if (probe.innerHTML === node.innerHTML) return;
  node.replaceChildren(...probe.childNodes);
}

function render(st) {
  const first = state === null;
  const phaseChanged = !first && state.phase !== st.phase;
  state = st;
  if (phaseChanged && tab === 'records') loadRecords(); // a record may have been written
  const host = st.role === 'host';
  const b = document.body;
  b.dataset.state = st.phase || 'idle';
  b.dataset.role = st.role || '';
  if (st.path && st.phase === 'connected') b.dataset.path = st.path.kind;
  else delete b.dataset.path;
  if (first && !chosenLang) applyLang(st.lang || browserLang());

  $('role').textContent = t('role.' + st.role);
  $('phase').textContent = t('phase.' + st.phase);
  $('error').textContent = st.phase === 'failed' ? st.error || t('phase.failed') : '';
  $('error').hidden = st.phase !== 'failed';

  renderWaiting(st, host);
  show('idle', st.phase === 'idle');
  $('idle-text').textContent = t(host ? 'idle.host' : 'idle.client');
  renderEnded(st, host);
  renderConsent(st, host);
  renderPeople(st);
  renderChat(st);
  renderShares(st);
  renderAsks(st);
  renderFiles(st);
  renderNotes(st);
  renderKnown(st, host);
  screen.render(st);

  const live = st.phase === 'connected';
  for (const id of ['chat-input', 'chat-send', 'file-input', 'file-send', 'ask-record', 'ask-screen']) {
    $(id).disabled = !live;
  }
  show('endbar', running.has(st.phase));
}

function renderWaiting(st, host) {
  const on = host && st.phase === 'waiting' && Boolean(st.code);
  show('waiting', on);
  if (!on) return;
  $('code').textContent = st.code;
  const link = $('join-url');
  const href = safeHref(st.join_url || '');
  link.textContent = st.join_url || '';
  if (href) link.href = href;
  else link.removeAttribute('href');
  const qr = $('qr');
  if (st.join_url) {
    const src = '/api/qr.png?u=' + enc(st.join_url);
    if (qr.getAttribute('src') !== src) qr.src = src;
    qr.hidden = false;
  } else {
    qr.hidden = true;
  }
}

function renderEnded(st, host) {
  const on = st.phase === 'ended';
  show('ended', on);
  show('newbar', host && (on || st.phase === 'failed' || st.phase === 'idle'));
  if (!on) return;
  $('end-reason').textContent = [st.end_reason, when(st.ended)].filter(Boolean).join(' · ');
  show('ended-record', Boolean(st.record));
  if (st.record) {
    $('record-pdf').href = `/api/records/${enc(st.record.id)}.pdf`;
    $('record-json').href = `/api/records/${enc(st.record.id)}.json`;
  }
}

// whatText says what an ask is for, from the reader's side.
function whatText(a) {
  const p = state && state.role === 'host' ? 'whathost.' : 'what.';
  if (a.what === 'file') return t(p + 'file', a.name || '', size(a.size));
  return t(p + a.what);
}

function renderConsent(st, host) {
  const pending = host ? [] : (st.asks || []).filter((a) => a.state === 'pending');
  show('consent', pending.length > 0);
  const list = document.getElementById('consent-list');
  replaceIfChanged(list,
    ...pending.map((a) =>
      el(
        'li',
        { testid: 'consent-item', data: { id: a.id, what: a.what } },
        el('span', { class: 'what', text: whatText(a) }),
        el('button', {
          type: 'button',
          class: 'accept',
          testid: 'ask-accept',
          text: t('asks.accept'),
          onclick: () => act('POST', '/api/answer', { id: a.id, ok: true }),
        }),
        el('button', {
          type: 'button',
          class: 'decline',
          testid: 'ask-decline',
          text: t('asks.decline'),
          onclick: () => act('POST', '/api/answer', { id: a.id, ok: false }),
        }),
      ),
    ),
  );
}

function renderPeople(st) {
  show('phrasebox', Boolean(st.phrase));
  $('phrase').textContent = st.phrase || '';
  const self = st.self || {};
  $('self-name').textContent = self.name || '';
  $('self-fingerprint').textContent = self.fingerprint || '';
  const peer = st.peer || {};
  $('peer-name').textContent = peer.name || '–';
  $('peer-agent').textContent = peer.agent || '';
  $('peer-fingerprint').textContent = peer.fingerprint || '';
  if (st.path) {
    $('path').textContent = t('path.' + st.path.kind);
    $('path-detail').textContent = `${st.path.local || '?'} ↔ ${st.path.remote || '?'} (${st.path.proto || '?'})`;
  } else {
    $('path').textContent = '–';
    $('path-detail').textContent = '';
  }
  $('started').textContent = when(st.started) || '–';
}

function renderChat(st) {
  const log = $('chat');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  replaceIfChanged(log,
    ...(st.chat || []).map((m) =>
      el(
        'li',
        { testid: 'chat-line', class: m.from === st.role ? 'mine' : 'theirs', data: { id: m.id, from: m.from } },
        el('small', { testid: 'chat-meta', text: `${m.name || m.from} · ${when(m.at)}` }),
        el('span', { testid: 'chat-text', text: m.text }),
      ),
    ),
  );
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// renderShares warns when a side's share of the transcript (what its chat
// may add to the record) is nearly full, and says what was cut.
function renderShares(st) {
  const de = getLang() === 'de';
  const mb = (n) => (n / 1e6).toFixed(1).replace('.', de ? ',' : '.');
  const items = (st.shares || []).map((s) => {
    const who = t(s.from === st.role ? 'share.mine' : 'share.' + s.from);
    const key = s.cut > 0 ? 'share.cut' : s.from === st.role ? 'share.fullmine' : 'share.full';
    const pct = Math.floor((100 * s.used) / (s.max || 1));
    return el('li', { testid: 'share', data: { from: s.from, cut: String(s.cut || 0) }, text: t(key, who, pct, mb(s.max), s.cut || 0, mb(s.cut_bytes || 0)) });
  });
  replaceIfChanged($('shares'), ...items);
  $('shares').hidden = items.length === 0;
}

function renderAsks(st) {
  $('recording').textContent = t('rec.' + (st.recording || 'off'));
  replaceIfChanged($('asks'),
    ...(st.asks || []).map((a) =>
      el(
        'li',
        { testid: 'ask-item', class: 'ask ' + a.state, data: { id: a.id, what: a.what, state: a.state } },
        el('span', { class: 'what', text: whatText(a) }),
        ' ',
        el('strong', { testid: 'ask-state', text: t('askstate.' + a.state) }),
        ' ',
        el('small', { text: when(a.answered_at || a.asked_at) }),
      ),
    ),
  );
}

function fileState(f) {
  // Offered again after a rebuilt connection: still one file.
  const again = f.resent ? ' · ' + t('filestate.resent', f.resent) : '';
  if (f.state === 'sending') {
    const pct = f.size > 0 ? Math.floor((100 * f.done) / f.size) + '\u00a0%' : '';
    return t('filestate.sending', pct) + again;
  }
  return t('filestate.' + f.state) + (f.error ? ': ' + f.error : '') + again;
}

function renderFiles(st) {
  replaceIfChanged($('files'),
    ...(st.files || []).map((f) =>
      el(
        'li',
        { testid: 'file-item', class: 'file ' + f.state, data: { id: f.id, state: f.state, kind: f.kind, from: f.from } },
        el('strong', { testid: 'file-name', text: f.name }),
        ' ',
        el('small', { testid: 'file-size', text: size(f.size) }),
        ' ',
        el('small', { text: t('files.from.' + f.from) + (f.kind === 'record' ? ' · ' + t('files.record') : '') }),
        ' ',
        el('em', { testid: 'file-state', text: fileState(f) }),
        f.sha256 ? el('code', { testid: 'file-sha256', class: 'hash', text: f.sha256 }) : null,
        f.state === 'done'
          ? el('a', { testid: 'file-download', href: `/api/files/${enc(f.id)}`, download: '', text: t('files.download') })
          : null,
      ),
    ),
  );
}

// Notes save themselves a moment after the adviser stops typing.
let notesDirty = false;
let notesTimer = 0;
function renderNotes(st) {
  const ta = $('notes');
  if (!notesDirty && document.activeElement !== ta) ta.value = st.notes || '';
  // After the end the record is written: notes can no longer reach it.
  ta.disabled = !(st.role === 'host' && running.has(st.phase));
}

async function saveNotes() {
  clearTimeout(notesTimer);
  if (!notesDirty) return;
  const ta = $('notes');
  const text = ta.value;
  $('notes-status').textContent = t('notes.saving');
  try {
    await api('PUT', '/api/notes', { text });
    if (ta.value === text) {
      notesDirty = false;
      $('notes-status').textContent = t('notes.saved');
    }
  } catch (e) {
    $('notes-status').textContent = '';
    showError(e);
  }
}

function renderKnown(st, host) {
  $('known-title').textContent = t(host ? 'known.title.host' : 'known.title.client');
  const calling = st.calling || [];
  replaceIfChanged($('calling-list'),
    ...calling.map((k) =>
      el(
        'li',
        { testid: 'calling-item', data: { key: k.key } },
        el('strong', { text: k.name }),
        ' ',
        el('code', { class: 'fp', text: k.fingerprint }),
        ' ',
        el('button', {
          type: 'button',
          testid: 'known-allow',
          text: t('known.allow'),
          onclick: () => act('POST', `/api/known/${enc(k.key)}/allow`, { ok: true }),
        }),
        el('button', {
          type: 'button',
          testid: 'known-deny',
          text: t('known.deny'),
          onclick: () => act('POST', `/api/known/${enc(k.key)}/allow`, { ok: false }),
        }),
      ),
    ),
  );
  show('calling-card', host && calling.length > 0);
  const known = st.known || [];
  $('known-empty').hidden = known.length > 0;
  const busy = running.has(st.phase);
  replaceIfChanged($('known-list'),
    ...known.map((k) =>
      el(
        'li',
        { testid: 'known-item', data: { key: k.key, allowed: String(Boolean(k.allowed)) } },
        el('strong', { testid: 'known-name', text: k.name }),
        ' ',
        el('code', { class: 'fp', testid: 'known-fingerprint', text: k.fingerprint }),
        ' ',
        el('small', {
          text: [host ? t(k.allowed ? 'known.allowed' : 'known.notyet') : '', k.last_seen ? t('known.lastseen', when(k.last_seen)) : '']
            .filter(Boolean)
            .join(' · '),
        }),
        ' ',
        host
          ? null
          : el('button', {
              type: 'button',
              testid: 'known-rejoin',
              text: t('known.rejoin'),
              disabled: busy,
              onclick: () => act('POST', `/api/known/${enc(k.key)}/rejoin`),
            }),
        el('button', {
          type: 'button',
          testid: 'known-revoke',
          text: t('known.revoke'),
          onclick: () => act('POST', `/api/known/${enc(k.key)}/revoke`),
        }),
      ),
    ),
  );
}

let recordsTimer = 0;
async function loadRecords() {
  const q = $('records-search').value;
  try {
    const recs = await api('GET', '/api/records?q=' + enc(q));
    if ($('records-search').value !== q) return; // a newer search is coming
    $('records-empty').hidden = recs.length > 0;
    replaceIfChanged($('records-list'),
      ...recs.map((r) =>
        el(
          'li',
          { testid: 'record-item', data: { id: r.id } },
          el('strong', { text: `${r.client || '–'} · ${when(r.start)}` }),
          ' ',
          el('small', { text: r.host || '' }),
          ' ',
          el('a', { testid: 'record-item-pdf', href: `/api/records/${enc(r.id)}.pdf`, download: '', text: 'PDF' }),
          ' ',
          el('a', { testid: 'record-item-json', href: `/api/records/${enc(r.id)}.json`, download: '', text: 'JSON' }),
          r.summary ? el('p', { class: 'summary', text: r.summary }) : null,
        ),
      ),
    );
  } catch (e) {
    showError(e);
  }
}

function setTab(name) {
  tab = name;
  for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const v of ['consult', 'records', 'known']) show('view-' + v, v === name);
  if (name === 'records') loadRecords();
}

function upload(file) {
  const status = $('upload-status');
  const fd = new FormData();
  fd.append('size', String(file.size));
  fd.append('file', file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/files');
  status.hidden = false;
  status.textContent = t('files.uploading', file.name, '0\u00a0%');
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) status.textContent = t('files.uploading', file.name, Math.floor((100 * e.loaded) / e.total) + '\u00a0%');
  };
  xhr.onload = () => {
    if (xhr.status >= 200 && xhr.status < 300) {
      status.textContent = t('files.uploaded', file.name);
      $('file-input').value = '';
      return;
    }
    status.hidden = true;
    let msg = `${xhr.status} ${xhr.statusText}`;
    try {
      msg = JSON.parse(xhr.responseText).error || msg;
    } catch {
      // keep the status line
    }
    showError(msg);
  };
  xhr.onerror = () => {
    status.hidden = true;
    showError(t('offline'));
  };
  xhr.send(fd);
}

async function end() {
  if (!state || !running.has(state.phase)) return;
  // The record is written at the end: the last keystrokes of the notes
  // must reach it first.
  await saveNotes();
  act('POST', '/api/end');
}

function wire() {
  $('lang').addEventListener('click', () => {
    chosenLang = getLang() === 'de' ? 'en' : 'de';
    try {
      localStorage.setItem('direkt.lang', chosenLang);
    } catch {
      // not kept
    }
    applyLang(chosenLang);
    if (state) render(state);
    if (tab === 'records') loadRecords();
  });
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setTab(b.dataset.tab));

  document.getElementById('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('chat-input');
    const text = input.value;
    if (!text.trim()) return;
    api('POST', '/api/chat', { text }).then(() => {
      if (input.value === text) input.value = '';
    }, showError);
  });
  document.getElementById('file-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = $('file-input').files[0];
    if (!f) {
      showError(t('files.pick'));
      return;
    }
    upload(f);
  });
  $('ask-record').addEventListener('click', () => act('POST', '/api/ask', { what: 'record' }));
  $('ask-screen').addEventListener('click', () => act('POST', '/api/ask', { what: 'screen' }));
  $('end').addEventListener('click', end);
  $('new').addEventListener('click', () => act('POST', '/api/new'));
  $('copy-join-url').addEventListener('click', () => {
    navigator.clipboard.writeText($('join-url').textContent).then(() => {
      $('copy-join-url').textContent = t('waiting.copied');
    }, showError);
  });

  const ta = $('notes');
  ta.addEventListener('input', () => {
    notesDirty = true;
    $('notes-status').textContent = '';
    clearTimeout(notesTimer);
    notesTimer = setTimeout(saveNotes, 700);
  });
  ta.addEventListener('blur', saveNotes);

  $('records-search').addEventListener('input', () => {
    clearTimeout(recordsTimer);
    recordsTimer = setTimeout(loadRecords, 250);
  });

  // Esc ends the consultation at once. In a text field the first Esc only
  // leaves the field, so that typing notes cannot end it by accident.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    const a = document.activeElement;
    if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) {
      a.blur();
      return;
    }
    end();
  });
  window.addEventListener('beforeunload', () => {
    if (notesDirty) saveNotes();
  });

  const events = new EventSource('/api/events');
  events.addEventListener('changed', refresh);
  events.addEventListener('error', () => {
    $('offline').hidden = false;
  });
  events.addEventListener('open', () => {
    $('offline').hidden = true;
  });
}

applyLang(chosenLang || browserLang());
setTab('consult');
const screen = new Screen({ api, showError });
wire();
refresh();
