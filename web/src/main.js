// The join page: the code form, pairing, the consultation, the end. It wires
// the protocol modules to the DOM and nothing else: all text comes from
// strings.js, all DOM is built with textContent (no HTML from anywhere).
//
// For automation, <body> carries data-state (waiting, pairing, connected,
// ended, failed) and data-path (direct, relay) once connected; every control
// has a data-testid (web/README.md).

import WORDS from 'direkt:words';
import { Codes, CodeError } from './code.js';
import { fromBase64 } from './bytes.js';
import { Consultation, MAX_REOFFERS, MAX_SHARE, WARN_SHARE } from './consult.js';
import { fingerprint } from './identity.js';
import { browserName } from './agent.js';
import { codeFromInput, codeFromLocation } from './link.js';
import { claim } from './pairing.js';
import { connect } from './rtc.js';
import { ScreenView, screenHello } from './screenui.js';
import { codeErrorText, formatLimit, formatSize, pickLang, STRINGS } from './strings.js';

const codes = new Codes(WORDS);
const lang = pickLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
const t = STRINGS[lang];
const $ = (id) => document.getElementById(id);

let busy = null; // AbortController of the pairing in progress
let consultation = null;
let screenView = null;
let selfName = t.defaultName;

function setState(state) {
  document.body.dataset.state = state;
}

function text(id, s) {
  $(id).textContent = s;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'testid') e.dataset.testid = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function labels() {
  document.documentElement.lang = lang;
  document.title = t.title;
  text('tagline', t.tagline);
  text('code-label', t.codeLabel);
  text('code-hint', t.codeHint);
  text('name-label', t.nameLabel);
  $('name').placeholder = t.defaultName;
  text('join-button', t.join);
  text('failed-title', t.failed);
  text('again-failed', t.again);
  text('again-ended', t.again);
  text('ended-title', t.ended);
  text('participants-title', t.participants);
  text('host-label', t.host);
  text('you-label', t.you);
  text('path-label', t.path);
  text('phrase-label', t.phrase);
  text('phrase-hint', t.phraseHint);
  text('key-label', t.key);
  $('key-hint').replaceChildren(t.keyHint[0], el('code', {}, 'direkt verify ', el('span', { class: 'nowrap' }, '--key')), t.keyHint[1]);
  text('end-button', t.end);
  text('end-hint', t.endHint);
  text('chat-title', t.chat);
  text('chat-label', t.chatLabel);
  text('chat-send', t.send);
  text('files-title', t.files);
  text('file-label-text', t.sendFile);
}

function fail(kind) {
  busy = null;
  text('error', t.errors[kind] ?? t.errors.other);
  document.body.dataset.error = kind in t.errors ? kind : 'other';
  setState('failed');
}

function showCodeError(e) {
  text('join-error', codeErrorText(t, e));
  document.body.dataset.error = e.kind;
  setState('waiting');
  $('code').focus();
}

/** join parses the typed code and runs pairing, WebRTC and the consultation. */
async function join(input, { fromPath = false } = {}) {
  if (busy) return;
  let code;
  try {
    code = codes.parse(codeFromInput(input));
  } catch (e) {
    if (fromPath) history.replaceState(null, '', '/j/');
    if (e instanceof CodeError) return showCodeError(e);
    throw e;
  }
  // The words belong in the fragment, never in a path the server sees again.
  history.replaceState(null, '', `/j/${code.nameplate}#${code.words.join('-')}`);
  if (typeof RTCPeerConnection === 'undefined') return fail('webrtc');
  delete document.body.dataset.error;
  text('join-error', '');
  selfName = $('name').value.trim() || t.defaultName;
  busy = new AbortController();
  setState('pairing');
  text('pairing-status', t.pairing);
  const signal = busy.signal;
  let pair;
  try {
    pair = await claim({
      server: location.origin,
      code,
      phrase: (l, idx) => codes.phrase(l, idx),
      // "screen": 1 only where the page can view a share and share back
      // on the same transceiver (docs/screen.md, "Negotiation").
      hello: { name: selfName, app: 'consult', path: 'auto', ...(screenHello() ? { screen: 1 } : {}) },
      WebSocket,
      fetch: (url, init) => fetch(url, init),
      signal,
      progress: (step) => text('pairing-status', step === 'confirmed' ? t.pairingConfirmed : t.pairingClaimed),
    });
  } catch (e) {
    return fail(e.kind ?? 'other');
  }
  text('phrase', pair.phrase);
  text('peer-name', pair.peer.name || t.host);
  showKey(pair.peer.id);
  let session;
  try {
    session = await connect({
      pair,
      RTCPeerConnection,
      signal,
      window,
      connection: navigator.connection,
      online: () => navigator.onLine,
      log: (m) => console.info(`direkt: ${m}`),
    });
  } catch (e) {
    return fail(e.kind ?? 'other');
  }
  busy = null;
  showPath(session.path);
  // The path may change (ICE switches pairs) or turn out to be the relay
  // once the host's relay candidate arrived: look again now and then.
  const poll = setInterval(async () => showPath(await session.refreshPath()), 2000);
  session.ondone(() => clearInterval(poll));
  session.onlink = (state, info) => showLink(state, info, session);
  text('self-name', selfName);
  consultation = new Consultation({
    session,
    name: selfName,
    lang,
    agent: browserName(navigator.userAgent),
    onchange: render,
  });
  screenView = new ScreenView({ session, consultation, t, onerror: (e) => console.warn(`direkt: screen: ${e?.message ?? e}`) });
  setState('connected');
  render();
}

let linkTimer = null;
/** showLink shows that the path is lost and being restored, then back. */
function showLink(state, info, session) {
  clearTimeout(linkTimer);
  if (state === 'reconnecting') {
    document.body.dataset.link = 'reconnecting';
    text('link', t.reconnecting);
    console.info(`direkt: path lost (${info.why}), reconnecting`);
    return;
  }
  document.body.dataset.link = 'back';
  text('link', t.reconnected);
  console.info(`direkt: connected again after ${info.pause} ms`);
  session.refreshPath().then(showPath);
  linkTimer = setTimeout(() => {
    if (document.body.dataset.link === 'back') document.body.dataset.link = 'up';
  }, 4000);
}

/** showKey shows the fingerprint of the adviser's key from its hello (none: nothing). */
function showKey(id) {
  let fp = '';
  try {
    if (id) fp = fingerprint(fromBase64(id));
  } catch {
    // checked by the hello's validation already; show nothing rather than guess
  }
  text('peer-key', fp);
  $('peer-key-row').hidden = !fp;
}

function showPath(p) {
  document.body.dataset.path = p.kind;
  text('path', `${t[p.kind]} (${p.local}↔${p.remote}${p.proto ? ' ' + p.proto : ''})`);
}

function render() {
  if (!consultation) return;
  const s = consultation.state;
  if (s.host) text('peer-name', s.host.name || t.host);
  renderAsks(s);
  renderChat(s);
  renderShare(s);
  renderFiles(s);
  // Before the host's hello the phase is "connecting": the panel waits.
  if (s.phase === 'connected') screenView?.render(s.screen ?? null);
  else if (s.phase === 'ended' || s.phase === 'failed') closeScreen();
  if (s.phase === 'ended') {
    setState('ended');
    text('ended-reason', t.endedBy[s.endReason] ?? t.endedBy.host);
  } else if (s.phase === 'failed') {
    fail(s.error === 'protocol' ? 'protocol' : s.error);
  }
}

function renderAsks(s) {
  const box = $('asks');
  box.replaceChildren();
  if (s.phase !== 'connected') return;
  for (const a of s.asks.filter((x) => x.state === 'pending')) {
    const msg = a.what === 'record' ? t.askRecord : a.what === 'screen' ? t.askScreen : t.askFile(a.name, formatSize(a.size, lang));
    const card = el(
      'div',
      { class: 'card ask', role: 'alertdialog', 'aria-label': msg, testid: 'ask', 'data-ask-id': a.id, 'data-what': a.what },
      el('p', {}, msg),
    );
    if (a.what === 'file') card.append(el('p', { class: 'hint' }, `${t.sha} ${a.sha256}`));
    card.append(
      el(
        'div',
        { class: 'actions' },
        el('button', { type: 'button', class: 'primary', testid: `accept-${a.id}`, onclick: () => consultation.answer(a.id, true) }, t.accept),
        el('button', { type: 'button', testid: `decline-${a.id}`, onclick: () => consultation.answer(a.id, false) }, t.decline),
      ),
    );
    box.append(card);
  }
}

let chatShown = -1;
/** renderChat adds the new messages to the log (the transcript only grows). */
function renderChat(s) {
  if (s.chat.length === chatShown) return;
  const log = $('chat-log');
  const from = chatShown < 0 || chatShown > s.chat.length ? 0 : chatShown;
  const items = s.chat.slice(from).map((m) =>
    el(
      'li',
      { class: m.from === 'client' ? 'mine' : '', 'data-from': m.from, testid: 'chat-message' },
      el('span', { class: 'who' }, `${m.name} · ${new Date(m.at).toLocaleTimeString(lang)}`),
      m.text,
    ),
  );
  if (from === 0) log.replaceChildren(...items);
  else log.append(...items);
  chatShown = s.chat.length;
  log.scrollTop = log.scrollHeight;
}

/** renderShare says when our messages near their share, and when one did not fit. */
function renderShare(s) {
  const note = $('chat-note');
  const { used, refused } = s.share;
  if (refused) {
    note.dataset.share = 'full';
    note.textContent = t.shareFull(formatLimit(MAX_SHARE, lang));
  } else if (used >= WARN_SHARE) {
    note.dataset.share = 'near';
    note.textContent = t.shareNear(Math.floor((100 * used) / MAX_SHARE));
  } else {
    delete note.dataset.share;
    note.textContent = '';
  }
}

function renderFiles(s) {
  $('files').replaceChildren(
    ...s.files.map((f) => {
      const li = el('li', { 'data-file-id': f.id, 'data-state': f.state, 'data-kind': f.kind, testid: 'file' });
      const title = f.kind === 'record' ? `${t.record}: ${f.name}` : f.name;
      if (f.state === 'done' && f.url) {
        li.append(el('a', { href: f.url, download: f.name, testid: `download-${f.id}`, rel: 'noopener' }, title));
      } else {
        li.append(el('span', {}, title));
      }
      const progress = f.state === 'receiving' || f.state === 'sending' ? ` · ${formatSize(f.done, lang)} / ${formatSize(f.size, lang)}` : '';
      // A file the rebuilt connection cut off goes out again by itself
      // (docs/consult.md, "Resuming"): shown as interrupted, not failed.
      const state = f.state === 'failed' && f.rebuilt && !f.gaveUp && (f.resent ?? 0) < MAX_REOFFERS ? 'interrupted' : f.state;
      const bad = state === 'failed' || state === 'refused';
      const again = f.resent ? ` · ${t.resent(f.resent)}` : '';
      li.append(
        el('span', { class: `meta ${bad ? 'failed' : ''}` }, `${f.from === 'host' ? t.fromHost : t.fromYou} · ${formatSize(f.size, lang)} · ${t.fileState[state] ?? state}${progress}${again}`),
      );
      if (f.state === 'refused' && f.max) li.append(el('span', { class: 'meta failed', testid: `why-${f.id}` }, t.recordTooLarge(formatLimit(f.max, lang))));
      const hash = f.from === 'host' ? f.got : f.sha256;
      if (hash) li.append(el('span', { class: 'meta' }, `${t.sha} `, el('code', { testid: `sha256-${f.id}` }, hash)));
      return li;
    }),
  );
}

/** closeScreen ends our share and the screen panel (the consultation is over). */
function closeScreen() {
  screenView?.close();
  screenView = null;
}

function endAll() {
  if (busy) {
    busy.abort();
    busy = null;
    fail('closed');
    return;
  }
  consultation?.end('client');
}

function again() {
  closeScreen();
  consultation = null;
  chatShown = -1;
  $('chat-log').replaceChildren();
  $('files').replaceChildren();
  $('asks').replaceChildren();
  text('chat-note', '');
  delete $('chat-note').dataset.share;
  showKey('');
  delete document.body.dataset.path;
  delete document.body.dataset.error;
  delete document.body.dataset.link;
  history.replaceState(null, '', '/j/');
  $('code').value = '';
  setState('waiting');
  $('code').focus();
}

function start() {
  labels();
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    join($('code').value);
  });
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (consultation?.sendChat($('chat-input').value)) $('chat-input').value = '';
  });
  $('chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('chat-form').requestSubmit();
    }
  });
  $('file-input').addEventListener('change', (ev) => {
    for (const f of ev.target.files) consultation?.sendFile(f);
    ev.target.value = '';
  });
  $('end-button').addEventListener('click', endAll);
  $('again-failed').addEventListener('click', again);
  $('again-ended').addEventListener('click', again);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') endAll();
  });
  // Leaving the page ends the consultation. Firefox has closed the peer
  // connection by pagehide, so the goodbye must go out at beforeunload.
  window.addEventListener('beforeunload', () => consultation?.end('client'));
  window.addEventListener('pagehide', () => consultation?.end('client'));

  const found = codeFromLocation(location.pathname, location.hash);
  setState('waiting');
  if (found) {
    $('code').value = found.input;
    join(found.input, found);
  } else {
    const m = /^\/j\/([1-9][0-9]*)\/?$/.exec(location.pathname);
    if (m) $('code').value = `${m[1]}-`;
    $('code').focus();
  }
}

start();

