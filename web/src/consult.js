// The consultation protocol as the client (docs/consult.md): JSON Lines on
// the "consult" channel the host opens, files on "file/<id>" channels,
// consent before anything from the host is taken in. Every message from the
// host is validated; an invalid one ends the consultation with a protocol
// error. Nothing here opens, runs or reads anything on this computer: a
// received file becomes a download the person may click.

import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { fromUTF8, toHex, utf8, wellFormed } from './bytes.js';
import { SendHold } from './hold.js';
import { validText } from './wire.js';

export const MAX_LINE = 64 << 10;
export const MAX_FILE = 4 * 1024 ** 3;
// The record's files, as the host sends them (internal/record): the signed
// JSON is at most MaxSigned, the PDF at most MaxPDF; a larger "record" is
// none and is refused.
export const MAX_RECORD_JSON = 32 << 20;
export const MAX_RECORD_PDF = 64 << 20;
const MAX_PENDING_BYTES = 1 << 20; // data on a file channel before its "file" line
const PENDING_WAIT = 15_000;
const SEND_HIGH = 4 << 20;
const SEND_LOW = 1 << 20;
const HASH_SLICE = 1 << 20;
// How often a file in flight when the connection was rebuilt is offered
// again (docs/consult.md, "Resuming"), as internal/consult's maxReoffers.
export const MAX_REOFFERS = 3;

/** ProtocolError is a message that breaks docs/consult.md. */
export class ProtocolError extends Error {
  constructor(message) {
    super(`consult: ${message}`);
    this.name = 'ProtocolError';
  }
}

/**
 * LineDecoder splits the consult byte stream into JSON objects: a data
 * channel message may hold several lines, and a line may span messages. A
 * line over MAX_LINE bytes, invalid UTF-8, invalid JSON or a JSON value
 * that is not an object with a string "t" throws ProtocolError. Blank lines
 * are skipped.
 */
export class LineDecoder {
  #parts = [];
  #len = 0;

  /** push takes the next bytes and returns the whole lines they complete, parsed. */
  push(bytes) {
    const out = [];
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      if (nl < 0) break;
      out.push(this.#line(bytes.subarray(start, nl)));
      start = nl + 1;
    }
    const rest = bytes.subarray(start);
    if (rest.length) {
      if (this.#len + rest.length > MAX_LINE) throw new ProtocolError('line longer than 64 KiB');
      this.#parts.push(rest.slice());
      this.#len += rest.length;
    }
    return out.filter((x) => x !== null);
  }

  #line(tail) {
    if (this.#len + tail.length > MAX_LINE) throw new ProtocolError('line longer than 64 KiB');
    const b = new Uint8Array(this.#len + tail.length);
    let o = 0;
    for (const p of this.#parts) {
      b.set(p, o);
      o += p.length;
    }
    b.set(tail, o);
    this.#parts = [];
    this.#len = 0;
    let text;
    try {
      text = fromUTF8(b);
    } catch {
      throw new ProtocolError('line is not UTF-8');
    }
    if (text.trim() === '') return null;
    let v;
    try {
      v = JSON.parse(text);
    } catch {
      throw new ProtocolError('line is not JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v.t !== 'string') {
      throw new ProtocolError('line is not a message');
    }
    return v;
  }
}

const isID = (s) => typeof s === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(s);
const isHex256 = (s) => typeof s === 'string' && /^[0-9a-fA-F]{64}$/.test(s);
const runes = (s) => [...s].length;
// Text from the host is accepted as Go's internal/consult accepts it (any
// well-formed text within its limit) and shown with control characters
// replaced; the page only ever puts it into textContent.
const okText = (s, max) => typeof s === 'string' && runes(s) <= max && wellFormed(s);
const optText = (s, max) => s === undefined || okText(s, max);
const shown = (s) => [...s].map((c) => (validText(c) ? c : '\uFFFD')).join('');

function checkFileFields(m) {
  if (typeof m.name !== 'string' || m.name === '' || utf8(m.name).length > 255 || !wellFormed(m.name)) {
    throw new ProtocolError(`${m.t}: file name`);
  }
  if (!Number.isSafeInteger(m.size) || m.size < 0 || m.size > MAX_FILE) throw new ProtocolError(`${m.t}: file size`);
  if (!isHex256(m.sha256)) throw new ProtocolError(`${m.t}: sha256`);
}

// Each side's share of the transcript (docs/consult.md, "Limits of the
// transcript and the record"), as internal/consult: MaxShare, WarnShare and
// what a message costs in it (RecordCost). The host cuts a client's messages
// beyond its share, so the page refuses its own message that would pass it.
export const MAX_SHARE = 6 << 20;
export const WARN_SHARE = Math.floor(MAX_SHARE / 5) * 4;
export const ENTRY_COST = 80;
export const LINE_BREAK_COST = 20;

/**
 * jsonLen is the length of s as Go's encoding/json writes it, quotes
 * included: '"', '\\' and the short escapes take 2 bytes; other control
 * characters, '<', '>', '&', U+2028 and U+2029 take 6 (\u003c); a lone
 * surrogate, which Go reads as U+FFFD, takes its 3 bytes; everything else
 * its UTF-8 bytes.
 */
export function jsonLen(s) {
  let n = 2;
  for (const c of s) {
    const cp = c.codePointAt(0);
    if (c === '"' || c === '\\' || c === '\b' || c === '\f' || c === '\n' || c === '\r' || c === '\t') n += 2;
    else if (cp < 0x20 || c === '<' || c === '>' || c === '&' || cp === 0x2028 || cp === 0x2029) n += 6;
    else if (cp >= 0xd800 && cp <= 0xdfff) n += 3;
    else n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * recordCost is what a chat message of text by a participant named name
 * adds to the record (internal/consult.RecordCost): both as JSON escapes
 * them, LINE_BREAK_COST per line break, ENTRY_COST for the entry's other
 * fields. testdata/record-cost-v1.json pins it to Go.
 */
export function recordCost(name, text) {
  let n = ENTRY_COST + jsonLen(name) + jsonLen(text);
  for (const c of text) if (c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029' || c === '\u0085') n += LINE_BREAK_COST;
  return n;
}

// Screen sharing (docs/screen.md, "Control messages"), as internal/consult:
// what may be shared, the informative size's bound, how many of the host's
// pointer positions a second are shown (a burst of POINTER_BURST at once,
// the rest dropped) and sent (a burst of POINTER_SEND_BURST, the latest of
// a faster caller held back until the rate allows), and how many screen
// events a consultation may have.
export const SHARE_WHATS = ['screen', 'window', 'tab', 'other'];
export const MAX_SHARE_PIXELS = 16384;
export const POINTER_RATE = 20;
export const POINTER_BURST = 20;
export const POINTER_SEND_BURST = 5;
export const MAX_SCREEN_EVENTS = 2000;

const isPixels = (n) => Number.isInteger(n) && n >= 0 && n <= MAX_SHARE_PIXELS;
const isFraction = (f) => typeof f === 'number' && f >= 0 && f <= 1; // NaN and Infinity fail
const given = (v) => v !== undefined && v !== null; // Go reads null as absent

/** Bucket is a token bucket of POINTER_RATE tokens a second, at most burst. */
class Bucket {
  constructor(burst) {
    this.burst = burst;
    this.tokens = burst;
    this.at = performance.now();
  }

  /** take takes a token if there is one and returns 0, else the milliseconds until there is one. */
  take() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * POINTER_RATE);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens--;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / POINTER_RATE) * 1000);
  }
}

/**
 * validateHostMessage checks a message from the host (docs/consult.md,
 * "Messages") and returns it with normalised fields; it throws
 * ProtocolError for anything the host must not send.
 */
export function validateHostMessage(m) {
  switch (m.t) {
    case 'hello':
      if (m.v !== 1 || m.role !== 'host') throw new ProtocolError('hello: not a version 1 host');
      if (!okText(m.name ?? '', 100) || !optText(m.agent, 200)) throw new ProtocolError('hello: name or agent');
      if (m.lang !== undefined && m.lang !== 'de' && m.lang !== 'en') throw new ProtocolError('hello: lang');
      return { t: 'hello', name: shown(m.name ?? ''), lang: m.lang ?? '', agent: shown(m.agent ?? '') };
    case 'chat':
      if (!isID(m.id)) throw new ProtocolError('chat: id');
      if (typeof m.text !== 'string' || m.text === '' || runes(m.text) > 4000 || !wellFormed(m.text)) {
        throw new ProtocolError('chat: text');
      }
      if (typeof m.ts !== 'number' || !Number.isFinite(m.ts)) throw new ProtocolError('chat: ts');
      return { t: 'chat', id: m.id, text: m.text, ts: m.ts };
    case 'ask':
      if (!isID(m.id)) throw new ProtocolError('ask: id');
      if (m.what === 'file') {
        checkFileFields(m);
        return { t: 'ask', id: m.id, what: 'file', name: shown(m.name), size: m.size, sha256: m.sha256.toLowerCase() };
      }
      if (m.what !== 'record' && m.what !== 'screen') throw new ProtocolError('ask: what');
      return { t: 'ask', id: m.id, what: m.what };
    case 'file':
      if (!isID(m.id)) throw new ProtocolError('file: id');
      checkFileFields(m);
      if (m.kind !== 'doc' && m.kind !== 'record') throw new ProtocolError('file: kind');
      return { t: 'file', id: m.id, name: shown(m.name), size: m.size, sha256: m.sha256.toLowerCase(), kind: m.kind };
    case 'file-ok':
      if (!isID(m.id) || typeof m.ok !== 'boolean') throw new ProtocolError('file-ok: id or ok');
      if (m.sha256 !== undefined && m.sha256 !== '' && !isHex256(m.sha256)) throw new ProtocolError('file-ok: sha256');
      return { t: 'file-ok', id: m.id, ok: m.ok, sha256: (m.sha256 ?? '').toLowerCase() };
    case 'withdraw':
      if (!isID(m.id)) throw new ProtocolError('withdraw: id');
      return { t: 'withdraw', id: m.id };
    case 'rejoin':
      return { t: 'rejoin' }; // for peers with a long-term key; a browser has none
    case 'end':
      if (!optText(m.reason, 200)) throw new ProtocolError('end: reason');
      return { t: 'end', reason: m.reason ?? '' };
    case 'share':
      if (!isID(m.id)) throw new ProtocolError('share: id');
      if (m.state !== 'on' && m.state !== 'paused' && m.state !== 'off') throw new ProtocolError('share: state');
      if (!SHARE_WHATS.includes(m.what)) throw new ProtocolError('share: what');
      if (!isPixels(m.w) || !isPixels(m.h)) throw new ProtocolError('share: w and h');
      return { t: 'share', id: m.id, state: m.state, what: m.what, w: m.w, h: m.h };
    case 'pointer':
      if (!isID(m.id)) throw new ProtocolError('pointer: id');
      if (given(m.x) !== given(m.y)) throw new ProtocolError('pointer: x without y or y without x');
      if (!given(m.x)) return { t: 'pointer', id: m.id, hide: true };
      if (!isFraction(m.x) || !isFraction(m.y)) throw new ProtocolError('pointer: x and y');
      return { t: 'pointer', id: m.id, hide: false, x: m.x, y: m.y };
    case 'view':
      if (!isID(m.id) || typeof m.on !== 'boolean') throw new ProtocolError('view: id or on');
      return { t: 'view', id: m.id, on: m.on };
    case 'answer':
      throw new ProtocolError('answer: only the client answers');
    default:
      throw new ProtocolError(`unknown message ${JSON.stringify(m.t).slice(0, 32)}`);
  }
}

/** cutName makes a file name fit 255 UTF-8 bytes and the text rules, keeping its extension. */
export function cutName(name) {
  let n = [...String(name)].map((c) => (validText(c) ? c : '_')).join('') || 'file';
  if (utf8(n).length <= 255) return n;
  const dot = n.lastIndexOf('.');
  const ext = dot > 0 && n.length - dot <= 16 ? n.slice(dot) : '';
  let base = [...n.slice(0, n.length - ext.length)];
  while (utf8(base.join('') + ext).length > 255) base.pop();
  return base.join('') + ext;
}

function newID(prefix) {
  return prefix + toHex(randomBytes(8));
}

function waitLow(dc, threshold) {
  return new Promise((resolve, reject) => {
    if (dc.readyState !== 'open') return reject(new Error('channel closed'));
    if (dc.bufferedAmount <= threshold) return resolve();
    dc.bufferedAmountLowThreshold = threshold;
    const done = () => {
      dc.removeEventListener('bufferedamountlow', done);
      dc.removeEventListener('close', done);
      if (dc.readyState === 'open') resolve();
      else reject(new Error('channel closed'));
    };
    dc.addEventListener('bufferedamountlow', done);
    dc.addEventListener('close', done);
  });
}

/**
 * Consultation is the client's side of one consultation over a connected
 * Session (rtc.js). The UI reads state and calls the actions; onchange
 * runs after every change of state.
 */
export class Consultation {
  /**
   * @param {object} o
   * @param {import('./rtc.js').Session} o.session
   * @param {string} o.name the client's display name
   * @param {string} o.lang "de" or "en"
   * @param {string} [o.agent] informative, e.g. the browser
   * @param {() => void} [o.onchange]
   * @param {(blob: Blob) => string} [o.makeURL] a download URL of a received file
   */
  constructor(o) {
    this.o = o;
    this.state = {
      phase: 'connecting', // connecting (no host hello yet), connected, ended, failed
      host: null,
      chat: [],
      asks: [],
      files: [],
      recording: 'off',
      // Our share of the transcript: used as the host counts it; refused
      // says the last message did not fit and was not sent.
      share: { used: 0, max: MAX_SHARE, refused: false },
      // Screen sharing (docs/screen.md): own is our share, peer the
      // host's, each null unless it is on or paused; started is ms since
      // the epoch (this side's clock); viewing says, for own, that the host
      // views it and, for peer, that we do; pointer is the host's pointer
      // on its share, null when hidden. canShare is true until the
      // consultation ended: the client needs no consent to share.
      screen: { canShare: true, own: null, peer: null },
      endReason: '',
      error: '',
    };
    this.dc = null;
    this.decoder = new LineDecoder();
    this.pending = new Map(); // file channels that came before their "file" line
    this.recordFiles = { json: false, pdf: false };
    // The name in our hello: the host counts our messages under it.
    this.helloName = cutText(o.name, 100);
    // Every write goes through the session's hold (hold.js).
    this.hold = o.session.hold ?? new SendHold();
    // Resuming over a new connection (docs/consult.md, "Resuming"): every
    // line we queue is kept until the host has it; wrote counts those
    // handed to the consult channel in use, got the host's lines we
    // received (its "resume" excepted).
    this.out = [];
    this.wrote = 0;
    this.got = 0;
    this.peerSent = 0; // the host's lines queued at its last "resume"
    this.resuming = false; // a new consult channel waits for the host's "resume"
    this.reoffered = true; // our files in flight at the last rebuild went out again
    this.linkNo = 0; // counts the consult channels: which one a file broke with
    // The Files we send, by id, kept to offer one again after a rebuild.
    this.sources = new Map();
    // Screen sharing: each side's latest share ({id, state, what, w, h,
    // started, viewing, pointer, off, cut}; cut: the host's, stopped here
    // when our consent ended, its crossing lines ignored), every share id
    // so far, the events counted, the rates of pointer positions shown and
    // sent, and our latest position held back by that rate.
    this.shares = { own: null, peer: null };
    this.shareIDs = new Set();
    this.screenEvents = 0;
    this.pointerIn = new Bucket(POINTER_BURST);
    this.pointerOut = new Bucket(POINTER_SEND_BURST);
    this.pointerPending = null;
    this.pointerTimer = 0;
    this.pointerCount = { shown: 0, dropped: 0 };
    o.session.wanted = () => this.state.phase === 'connected' || this.state.phase === 'connecting';
    o.session.onchannel = (dc) => this.#channel(dc);
    o.session.ondone((err) => this.#sessionDone(err));
  }

  #changed() {
    this.o.onchange?.();
  }

  #channel(dc) {
    if (dc.label === 'consult' && !this.dc) {
      this.dc = dc;
      this.dcLink = this.o.session.link;
      dc.onmessage = (ev) => this.#data(ev.data);
      dc.onclose = () => this.#consultClosed(dc);
      if (dc.readyState === 'open') this.#hello();
      else dc.onopen = () => this.#hello();
      return;
    }
    if (dc.label === 'consult' && this.o.session.wanted()) return this.#resume(dc);
    const m = /^file\/([A-Za-z0-9_-]{1,32})$/.exec(dc.label);
    if (!m || !m[1].startsWith('h')) return this.hold.close(dc);
    this.#fileChannel(m[1], dc);
  }

  #send(msg) {
    if (!this.dc) return false;
    this.out.push(utf8(JSON.stringify(msg) + '\n'));
    this.#pump();
    return true;
  }

  /** #pump hands the queued lines to the consult channel in use. */
  #pump() {
    const dc = this.dc;
    if (!dc || this.resuming || dc.readyState !== 'open') return;
    while (this.wrote < this.out.length) this.hold.send(dc, this.out[this.wrote++]);
  }

  /** #consultClosed: a consult channel that closes without an "end" is a dead connection, which the session may rebuild. */
  #consultClosed(dc) {
    // A channel of a connection already replaced says nothing.
    if (dc !== this.dc || this.dcLink !== this.o.session.link) return;
    if (this.o.session.rebuilds && this.o.session.wanted()) this.o.session.lost?.('consult channel closed');
    else this.#sessionDone(null);
  }

  /**
   * #resume takes the consult channel of a new connection: "resume" first
   * (what we got, what we queued), then, once the host's arrived, the
   * lines it did not get. Files in flight failed with the old connection.
   */
  #resume(dc) {
    this.dc = dc;
    this.dcLink = this.o.session.link;
    this.resuming = true;
    this.decoder = new LineDecoder();
    this.reoffered = false;
    for (const f of this.state.files) {
      // In flight: moving, or waiting for its verdict, or failed as its
      // channel broke, which a dying connection does first.
      const moving = f.from === 'host' ? f.state === 'receiving' : f.state === 'sending' || f.state === 'sent';
      if (!moving && !(f.state === 'failed' && f.brokeOn === this.linkNo && f.kind === 'doc')) continue;
      f.state = 'failed';
      f.rebuilt = true;
      f.brokeOn = undefined;
    }
    this.linkNo++;
    for (const [id, p] of [...this.pending]) {
      this.#dropPending(id);
      this.hold.close(p.dc);
    }
    dc.onmessage = (ev) => this.#data(ev.data);
    dc.onclose = () => this.#consultClosed(dc);
    const resume = () => this.hold.send(dc, utf8(JSON.stringify({ t: 'resume', got: this.got, sent: this.out.length }) + '\n'));
    if (dc.readyState === 'open') resume();
    else dc.onopen = resume;
    this.#changed();
  }

  /** #resumed takes the host's "resume", the first line on a new consult channel. */
  #resumed(m) {
    if (m.t !== 'resume') throw new ProtocolError('the first message on a new consult channel is not resume');
    const ok = (n) => Number.isSafeInteger(n) && n >= 0;
    if (!ok(m.got) || !ok(m.sent) || m.got > this.out.length || m.sent < this.got) throw new ProtocolError('resume: got or sent');
    this.peerSent = m.sent;
    this.wrote = m.got;
    for (let i = 0; i < m.got; i++) this.out[i] = null; // the host has them
    this.resuming = false;
    this.#pump();
    this.#reoffer();
  }

  /**
   * #reoffer offers again, under the same id, our files that were in flight
   * when the connection was rebuilt, once we have every line the host had
   * queued at its "resume": a verdict the host sent before it lost the old
   * connection is among them, and a file without one did not arrive.
   */
  #reoffer() {
    if (this.reoffered || this.resuming || this.got < this.peerSent || this.state.phase !== 'connected') return;
    this.reoffered = true;
    for (const f of this.state.files) {
      if (f.from !== 'client' || !f.rebuilt || f.state !== 'failed' || !f.announced) continue;
      const file = this.sources.get(f.id);
      if (!file || (f.resent ?? 0) >= MAX_REOFFERS) {
        f.gaveUp = true; // the person may send it again
        continue;
      }
      f.resent = (f.resent ?? 0) + 1;
      f.rebuilt = false;
      this.#transmit(f, file);
    }
  }

  #hello() {
    this.#send({
      t: 'hello',
      v: 1,
      role: 'client',
      name: this.helloName,
      lang: this.o.lang,
      agent: cutText(this.o.agent ?? 'browser', 200),
    });
  }

  #data(data) {
    if (this.state.phase === 'failed') return;
    const bytes = typeof data === 'string' ? utf8(data) : new Uint8Array(data);
    try {
      for (const raw of this.decoder.push(bytes)) {
        if (this.resuming) {
          this.#resumed(raw);
          continue;
        }
        if (raw.t === 'resume') throw new ProtocolError('resume on a channel that was not resumed');
        this.got++;
        const m = validateHostMessage(raw);
        this.#message(m);
        this.#reoffer();
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#fail(e.message);
    }
    this.#changed();
  }

  #message(m) {
    const s = this.state;
    if (!s.host) {
      if (m.t !== 'hello') throw new ProtocolError(`${m.t} before hello`);
      s.host = { name: m.name, lang: m.lang, agent: m.agent };
      s.phase = 'connected';
      return;
    }
    switch (m.t) {
      case 'hello':
        throw new ProtocolError('a second hello');
      case 'chat':
        if (s.chat.length < 10000) s.chat.push({ id: m.id, from: 'host', name: s.host.name, text: m.text, at: Date.now() });
        return;
      case 'ask':
        if (s.asks.some((a) => a.id === m.id)) throw new ProtocolError('ask: id used twice');
        if (s.asks.length >= 1000) throw new ProtocolError('ask: too many');
        if (m.what === 'file' && !m.id.startsWith('h')) throw new ProtocolError('ask: a host file id starts with h');
        s.asks.push({ ...m, state: 'pending' });
        if (m.what === 'record') s.recording = 'asked';
        return;
      case 'withdraw': {
        const a = s.asks.find((x) => x.id === m.id);
        // An accepted screen ask too, as Go's client: our answer crossed
        // the host's withdraw, and the host does not count it.
        if (a && (a.state === 'pending' || (a.state === 'accepted' && a.what === 'screen'))) a.state = 'withdrawn';
        if (a?.what === 'screen') this.#screenConsentChanged();
        return;
      }
      case 'share':
        return this.#onShare(m);
      case 'pointer':
        return this.#onPointer(m);
      case 'view':
        return this.#onView(m);
      case 'file':
        return this.#announce(m);
      case 'file-ok': {
        const f = s.files.find((x) => x.id === m.id && x.from === 'client');
        if (f?.rebuilt && f.state === 'failed') {
          // Failed when the connection was rebuilt, but the host had it
          // all; a "no" is the host seeing the old connection cut it off,
          // and the file goes out again (#reoffer).
          if (m.ok && m.sha256 === f.sha256) this.#verdict(f, 'done');
          return;
        }
        if (f) f.brokeOn = undefined; // the host decided: not in flight
        if (!f || (f.state !== 'sent' && f.state !== 'sending')) return;
        this.#verdict(f, m.ok && m.sha256 === f.sha256 ? 'done' : 'failed');
        return;
      }
      case 'end':
        s.endReason = m.reason || 'host';
        this.#ended();
        return;
      default:
        return; // rejoin
    }
  }

  #verdict(f, state) {
    f.state = state;
    f.rebuilt = false;
    this.sources.delete(f.id);
  }

  /** #announce takes a "file" from the host, only if it was consented to. */
  #announce(m) {
    const s = this.state;
    const refuse = () => {
      const dc = this.pending.get(m.id)?.dc;
      this.#dropPending(m.id);
      if (dc) this.hold.close(dc);
    };
    const known = s.files.find((f) => f.id === m.id);
    if (known) return this.#reoffered(known, m, refuse);
    if (!m.id.startsWith('h')) return refuse();
    if (m.kind === 'doc') {
      const a = s.asks.find((x) => x.id === m.id && x.what === 'file');
      if (!a || a.state !== 'accepted' || a.name !== m.name || a.size !== m.size || a.sha256 !== m.sha256) return refuse();
    } else {
      // One signed JSON and one PDF, each no larger than the host makes them.
      const type = /\.json$/i.test(m.name) ? 'json' : /\.pdf$/i.test(m.name) ? 'pdf' : '';
      if (s.recording !== 'accepted' || !type || this.recordFiles[type]) return refuse();
      this.recordFiles[type] = true;
      const max = type === 'json' ? MAX_RECORD_JSON : MAX_RECORD_PDF;
      if (m.size > max) {
        // Shown, so that a missing copy is never a mystery; the host hears no.
        refuse();
        s.files.push({ id: m.id, from: 'host', name: m.name, size: m.size, sha256: m.sha256, kind: m.kind, state: 'refused', max, done: 0, got: '', url: '' });
        this.#send({ t: 'file-ok', id: m.id, ok: false });
        return;
      }
    }
    const f = { id: m.id, from: 'host', name: m.name, size: m.size, sha256: m.sha256, kind: m.kind, state: 'receiving', done: 0, got: '', url: '' };
    s.files.push(f);
    if (this.got - 1 < this.peerSent) {
      // Announced before the connection was rebuilt and sent again by
      // "resume": its bytes went with the old connection, and the host
      // offers it again. A channel already here is the re-offer's.
      f.state = 'failed';
      f.rebuilt = true;
      return;
    }
    this.#receive(f);
  }

  /**
   * #reoffered takes a "file" for a host file we know: only the host's
   * re-offer, on the new connection, of a document that failed because the
   * connection was rebuilt, the same file as the ask we accepted. It needs
   * no new consent: it is the file consented to. It starts over under its
   * id, so the page keeps one entry.
   */
  #reoffered(f, m, refuse) {
    const a = this.state.asks.find((x) => x.id === m.id && x.what === 'file');
    const again =
      f.from === 'host' &&
      f.kind === 'doc' &&
      m.kind === 'doc' &&
      f.state === 'failed' &&
      f.rebuilt &&
      this.got - 1 >= this.peerSent &&
      (f.resent ?? 0) < MAX_REOFFERS &&
      a?.state === 'accepted' &&
      a.name === m.name &&
      a.size === m.size &&
      a.sha256 === m.sha256;
    if (!again) {
      refuse();
      // A re-offer we cannot take: the host hears no, as for its attempt.
      if (f.from === 'host' && f.state === 'failed' && f.rebuilt) this.#send({ t: 'file-ok', id: m.id, ok: false });
      return;
    }
    f.resent = (f.resent ?? 0) + 1;
    f.rebuilt = false;
    f.state = 'receiving';
    f.done = 0;
    f.got = '';
    f.try = (f.try ?? 0) + 1;
    this.#receive(f);
  }

  /** #receive takes f's bytes from its channel: the one that came before its line, or the next one. */
  #receive(f) {
    const p = this.pending.get(f.id);
    if (p) {
      this.#dropPending(f.id);
      this.#attach(f, p.dc, p.chunks, p.closed);
    } else {
      f.waitingChannel = true;
    }
  }

  #dropPending(id) {
    const p = this.pending.get(id);
    if (p) clearTimeout(p.timer);
    this.pending.delete(id);
  }

  #fileChannel(id, dc) {
    const f = this.state.files.find((x) => x.id === id && x.from === 'host');
    if (f && f.waitingChannel) return this.#attach(f, dc, [], false);
    // A file failed with a rebuilt connection: the channel may be the
    // host's re-offer, ahead of its "file" line.
    if (f && !(f.state === 'failed' && f.rebuilt)) return this.hold.close(dc);
    // The channel may overtake its "file" line; wait a little for it, but
    // only where the client consented to something it could belong to.
    const s = this.state;
    const asked = s.asks.some((a) => a.id === id && a.what === 'file' && a.state === 'accepted');
    if ((!asked && s.recording !== 'accepted') || this.pending.has(id) || this.pending.size >= 8) return this.hold.close(dc);
    const p = { dc, chunks: [], bytes: 0, closed: false, timer: 0 };
    p.timer = setTimeout(() => {
      this.#dropPending(id);
      this.hold.close(dc);
    }, PENDING_WAIT);
    dc.onmessage = (ev) => {
      const b = new Uint8Array(ev.data);
      p.bytes += b.length;
      if (p.bytes > MAX_PENDING_BYTES) {
        this.#dropPending(id);
        this.hold.close(dc);
        return;
      }
      p.chunks.push(b);
    };
    dc.onclose = () => (p.closed = true);
    this.pending.set(id, p);
  }

  /** #attach receives f's bytes from dc: counted, hashed as they come, kept for the download. */
  #attach(f, dc, early, closedEarly) {
    f.waitingChannel = false;
    const h = sha256.create();
    const attempt = f.try ?? 0;
    let chunks = [];
    let finished = false;
    const finish = (ok, closed = false) => {
      if (finished) return;
      finished = true;
      // Failed when the connection was rebuilt, or offered again since:
      // this attempt says nothing more.
      if (f.rebuilt || (f.try ?? 0) !== attempt) return;
      f.got = toHex(h.digest());
      ok = ok && f.got === f.sha256;
      if (ok) {
        f.state = 'done';
        const blob = new Blob(chunks, { type: 'application/octet-stream' });
        f.url = (this.o.makeURL ?? ((b) => URL.createObjectURL(b)))(blob);
      } else {
        f.state = 'failed';
        // Cut off early: by the host, or by a connection that is dying.
        if (closed && f.done < f.size) f.brokeOn = this.linkNo;
      }
      chunks = [];
      this.#send({ t: 'file-ok', id: f.id, ok, sha256: f.got });
      this.#changed();
      this.#maybeClose();
    };
    const take = (b) => {
      if (finished || f.rebuilt || (f.try ?? 0) !== attempt) return; // bytes after the announced size: the verdict is out
      if (f.done + b.length > f.size) {
        h.update(b);
        f.done += b.length;
        finish(false);
        this.hold.close(dc);
        return;
      }
      h.update(b);
      chunks.push(b);
      f.done += b.length;
      if (f.done === f.size) finish(true);
    };
    dc.onmessage = (ev) => {
      take(typeof ev.data === 'string' ? utf8(ev.data) : new Uint8Array(ev.data));
      this.#changed();
    };
    dc.onclose = () => finish(f.done === f.size, true);
    for (const b of early) take(b);
    if (f.size === 0) finish(true);
    if (closedEarly) finish(f.done === f.size, true);
  }

  /** answer answers consent request id. */
  answer(id, ok) {
    const a = this.state.asks.find((x) => x.id === id);
    if (!a || a.state !== 'pending' || this.state.phase !== 'connected') return;
    a.state = ok ? 'accepted' : 'declined';
    if (a.what === 'record') this.state.recording = ok ? 'accepted' : 'declined';
    this.#send({ t: 'answer', id, ok });
    if (a.what === 'screen') this.#screenConsentChanged();
    this.#changed();
  }

  /**
   * #screenConsent says whether our consent to the host's share stands:
   * the latest screen ask that was answered (accepted or declined) was
   * accepted; pending and withdrawn ones do not count (as internal/consult).
   */
  #screenConsent() {
    for (let i = this.state.asks.length - 1; i >= 0; i--) {
      const a = this.state.asks[i];
      if (a.what !== 'screen') continue;
      if (a.state === 'accepted') return true;
      if (a.state === 'declined') return false;
    }
    return false;
  }

  /** #screenConsentChanged stops the host's share here when our consent ended; the host stops it too. */
  #screenConsentChanged() {
    const sh = this.shares.peer;
    if (this.#screenConsent() || !sh || sh.off) return;
    sh.off = true;
    sh.cut = true;
    sh.pointer = null;
    this.screenEvents++;
    this.#publishScreen();
  }

  /** #publishScreen shows the shares in state.screen: copies, null when off. */
  #publishScreen() {
    const view = (sh, peer) => {
      if (!sh || sh.off) return null;
      const v = { id: sh.id, state: sh.state, what: sh.what, w: sh.w, h: sh.h, started: sh.started, viewing: sh.viewing };
      if (peer) v.pointer = sh.pointer ? { ...sh.pointer } : null;
      return v;
    };
    const sc = this.state.screen;
    sc.own = view(this.shares.own, false);
    sc.peer = view(this.shares.peer, true);
    sc.canShare = this.state.phase === 'connected' || this.state.phase === 'connecting';
  }

  /** #onShare takes the host's "share": a new one only with our consent, one at a time. */
  #onShare(m) {
    if (!m.id.startsWith('h')) throw new ProtocolError('share: not a host id');
    const cur = this.shares.peer;
    if (!cur || cur.id !== m.id) {
      if (m.state !== 'on') throw new ProtocolError(`share: ${m.state} of an unknown share`);
      if (this.shareIDs.has(m.id)) throw new ProtocolError('share: an id used before');
      if (cur && !cur.off) throw new ProtocolError('share: a second share while one is on');
      if (!this.#screenConsent()) throw new ProtocolError('share: without the client\'s consent');
      if (this.screenEvents >= MAX_SCREEN_EVENTS) throw new ProtocolError('share: too many screen events');
      this.shares.peer = { id: m.id, state: 'on', what: m.what, w: m.w, h: m.h, started: Date.now(), viewing: true, pointer: null, off: false, cut: false };
      this.shareIDs.add(m.id);
      this.screenEvents++;
      return this.#publishScreen();
    }
    if (cur.cut) return; // crossed the end of our consent: the host stops it too
    if (cur.off) throw new ProtocolError(`share: ${m.state} after its off`);
    if (m.what !== cur.what) throw new ProtocolError('share: changed what it shares');
    if (m.state === 'on' && !this.#screenConsent()) throw new ProtocolError('share: without the client\'s consent');
    if (m.state !== 'off' && m.state !== cur.state && this.screenEvents >= MAX_SCREEN_EVENTS) throw new ProtocolError('share: too many screen events');
    const changed = m.state !== cur.state; // an off always is
    if (m.state === 'off') {
      cur.off = true;
      cur.pointer = null;
    } else {
      cur.state = m.state;
    }
    if (changed) this.screenEvents++;
    // The size a stop or resume says, or a line that says nothing new but
    // perhaps the size; a pause keeps the picture's.
    if (!(changed && m.state === 'paused')) [cur.w, cur.h] = [m.w, m.h];
    this.#publishScreen();
  }

  /** #onPointer takes the host's pointer on its share; positions over the rate are dropped. */
  #onPointer(m) {
    const sh = this.shares.peer;
    if (!m.id.startsWith('h') || !sh || sh.id !== m.id) throw new ProtocolError('pointer: on no share of the host');
    if (sh.cut) return;
    if (sh.off) throw new ProtocolError('pointer: on a share that is off');
    if (m.hide) {
      // Hiding costs nothing: with positions limited, so are the changes.
      sh.pointer = null;
    } else if (this.pointerIn.take() === 0) {
      this.pointerCount.shown++;
      sh.pointer = { x: m.x, y: m.y };
    } else {
      this.pointerCount.dropped++;
      return;
    }
    this.#publishScreen();
  }

  /** #onView takes the host's "view" of our share. */
  #onView(m) {
    if (!m.id.startsWith('c') || !this.shareIDs.has(m.id)) throw new ProtocolError('view: of no share of ours');
    const sh = this.shares.own;
    if (sh.id !== m.id || sh.off || sh.viewing === m.on) return; // crossed our stop, or nothing new
    if (this.screenEvents >= MAX_SCREEN_EVENTS) throw new ProtocolError('view: too many screen events');
    sh.viewing = m.on;
    this.screenEvents++;
    this.#publishScreen();
  }

  #shareLine(sh, state) {
    return { t: 'share', id: sh.id, state, what: sh.what, w: sh.w, h: sh.h };
  }

  #ownShare() {
    const sh = this.shares.own;
    return sh && !sh.off ? sh : null;
  }

  /**
   * share starts sharing (what: "screen", "window", "tab" or "other"; w, h
   * the capture's size, informative: rounded into 0–16384, 0 if unknown)
   * and returns the share's id; null when it cannot: not connected, or
   * already sharing (stop that share first). The client needs no consent.
   */
  share(what, w, h) {
    if (!SHARE_WHATS.includes(what)) throw new RangeError(`share: what must be one of ${SHARE_WHATS.join(', ')}`);
    const px = (n) => (Number.isFinite(n) ? Math.min(MAX_SHARE_PIXELS, Math.max(0, Math.round(n))) : 0);
    if (this.state.phase !== 'connected' || this.#ownShare() || this.screenEvents >= MAX_SCREEN_EVENTS) return null;
    const sh = { id: newID('c'), state: 'on', what, w: px(w), h: px(h), started: Date.now(), viewing: true, off: false };
    if (!this.#send(this.#shareLine(sh, 'on'))) return null;
    this.shares.own = sh;
    this.shareIDs.add(sh.id);
    this.screenEvents++;
    this.#publishScreen();
    this.#changed();
    return sh.id;
  }

  /** pauseShare pauses (true) or resumes (false) our share; false if there is none. */
  pauseShare(paused) {
    const sh = this.#ownShare();
    if (!sh || this.state.phase !== 'connected') return false;
    const state = paused ? 'paused' : 'on';
    if (sh.state === state) return true;
    if (this.screenEvents >= MAX_SCREEN_EVENTS) return false;
    sh.state = state;
    this.screenEvents++;
    this.#send(this.#shareLine(sh, state));
    this.#publishScreen();
    this.#changed();
    return true;
  }

  /** stopShare stops our share; without one it does nothing. */
  stopShare() {
    const sh = this.#ownShare();
    if (!sh) return;
    sh.off = true;
    this.#stopPointer();
    this.screenEvents++; // a stop always counts: the record must show the end
    if (this.state.phase === 'connected') this.#send(this.#shareLine(sh, 'off'));
    this.#publishScreen();
    this.#changed();
  }

  /**
   * pointer shows our pointer at (x, y), fractions of our share's picture
   * (clamped into 0–1), or hides it (pointer(null)); false without a share.
   * At most POINTER_RATE positions a second go out: a faster caller's are
   * coalesced and the latest goes out as soon as the rate allows.
   */
  pointer(x, y) {
    const sh = this.#ownShare();
    if (!sh || this.state.phase !== 'connected') return false;
    const msg = { t: 'pointer', id: sh.id };
    if (x !== null && x !== undefined) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
      msg.x = Math.min(1, Math.max(0, x));
      msg.y = Math.min(1, Math.max(0, y));
    }
    if (this.pointerTimer) {
      this.pointerPending = msg;
      return true;
    }
    const wait = this.pointerOut.take();
    if (wait === 0) {
      this.#send(msg);
      return true;
    }
    this.pointerPending = msg;
    this.pointerTimer = setTimeout(() => {
      const m = this.pointerPending;
      this.pointerPending = null;
      this.pointerTimer = 0;
      const cur = this.#ownShare();
      if (!m || !cur || cur.id !== m.id || this.state.phase !== 'connected') return;
      this.pointerOut.take();
      this.#send(m);
    }, wait);
    return true;
  }

  #stopPointer() {
    clearTimeout(this.pointerTimer);
    this.pointerTimer = 0;
    this.pointerPending = null;
  }

  /** view tells the host that we stopped (false) or went back to (true) viewing its share; false without one. */
  view(on) {
    const sh = this.shares.peer;
    if (!sh || sh.off || this.state.phase !== 'connected') return false;
    on = Boolean(on);
    if (sh.viewing === on) return true;
    if (this.screenEvents >= MAX_SCREEN_EVENTS) return false;
    sh.viewing = on;
    this.screenEvents++;
    this.#send({ t: 'view', id: sh.id, on });
    this.#publishScreen();
    this.#changed();
    return true;
  }

  /** #screenEnded stops both shares as the consultation ends. */
  #screenEnded() {
    this.#stopPointer();
    for (const sh of [this.shares.own, this.shares.peer]) {
      if (sh && !sh.off) {
        sh.off = true;
        sh.pointer = null;
      }
    }
    this.#publishScreen();
  }

  /**
   * sendChat sends a chat message; it returns false if there is nothing to
   * send, no connection, or the message would pass our share of the
   * transcript (then state.share.refused is set and nothing is sent).
   */
  sendChat(text) {
    text = String(text).trim();
    if (!text || this.state.phase !== 'connected') return false;
    text = [...toWellFormedText(text)].slice(0, 4000).join('');
    const share = this.state.share;
    const cost = recordCost(this.helloName, text);
    if (share.used + cost > share.max) {
      share.refused = true;
      this.#changed();
      return false;
    }
    const msg = { t: 'chat', id: newID('c'), text, ts: Date.now() };
    if (!this.#send(msg)) return false;
    share.used += cost;
    share.refused = false;
    this.state.chat.push({ id: msg.id, from: 'client', name: this.o.name, text, at: msg.ts });
    this.#changed();
    return true;
  }

  /**
   * sendFile sends a File (or Blob with a name) to the host: hash first, then
   * announce, then stream it on its own channel with backpressure. The File
   * is kept until the host's verdict, to offer it again if the connection
   * is rebuilt meanwhile.
   */
  async sendFile(file) {
    if (this.state.phase !== 'connected') return;
    const f = { id: newID('c'), from: 'client', name: cutName(file.name), size: file.size, sha256: '', kind: 'doc', state: 'hashing', done: 0, url: '' };
    this.state.files.push(f);
    this.#changed();
    try {
      if (file.size > MAX_FILE) throw new Error('too large');
      const h = sha256.create();
      for (let o = 0; o < file.size; o += HASH_SLICE) {
        h.update(new Uint8Array(await file.slice(o, o + HASH_SLICE).arrayBuffer()));
        f.done = Math.min(o + HASH_SLICE, file.size);
        this.#changed();
      }
      f.sha256 = toHex(h.digest());
    } catch {
      f.state = 'failed';
      this.#changed();
      return;
    }
    this.sources.set(f.id, file);
    await this.#transmit(f, file);
  }

  /**
   * #transmit announces f and moves its bytes from file on "file/<id>": one
   * attempt, which a later one (#reoffer) supersedes. A failure after the
   * announcement other than reading the file is the channel breaking
   * (f.brokeOn, the consult channel's number then), which a rebuild of
   * that connection counts as in flight.
   */
  async #transmit(f, file) {
    const attempt = (f.try = (f.try ?? 0) + 1);
    const current = () => f.try === attempt;
    f.done = 0;
    f.state = 'sending';
    f.brokeOn = undefined;
    let reading = false;
    try {
      if (!this.#send({ t: 'file', id: f.id, name: f.name, size: f.size, sha256: f.sha256, kind: 'doc' })) throw new Error('not connected');
      f.announced = true;
      const announcedOn = this.dc;
      // Opening a channel sends too; the pump waits while sends are held.
      await this.hold.ready();
      if (!current()) return;
      // Never a channel of this attempt on a connection rebuilt since its
      // announcement: the attempt failed with the old one (#resume).
      if (this.dc !== announcedOn || this.dcLink !== this.o.session.link || f.state !== 'sending') throw new Error('connection rebuilt');
      const dc = this.o.session.createChannel(`file/${f.id}`);
      await new Promise((resolve, reject) => {
        dc.onopen = resolve;
        dc.onclose = () => reject(new Error('channel closed'));
      });
      const chunk = this.o.session.maxMessageSize;
      let sent = 0;
      for (let o = 0; o < file.size; o += HASH_SLICE) {
        reading = true;
        const slice = new Uint8Array(await file.slice(o, o + HASH_SLICE).arrayBuffer());
        reading = false;
        for (let i = 0; i < slice.length; i += chunk) {
          if (!current() || f.state !== 'sending') return this.hold.close(dc);
          if (dc.bufferedAmount > SEND_HIGH) await waitLow(dc, SEND_LOW);
          await this.hold.ready();
          if (dc.readyState !== 'open') throw new Error('channel closed');
          this.hold.send(dc, slice.subarray(i, i + chunk));
          sent += Math.min(chunk, slice.length - i);
          f.done = sent - dc.bufferedAmount;
          this.#changed();
        }
      }
      await waitLow(dc, 0);
      if (!current()) return;
      f.done = f.size;
      if (f.state === 'sending') f.state = 'sent';
      this.hold.close(dc);
      this.#changed();
    } catch {
      if (!current() || f.state !== 'sending') return; // done, or failed with the connection
      f.state = 'failed';
      if (f.announced && !reading) f.brokeOn = this.linkNo;
      this.#changed();
    }
  }

  /** end ends the consultation for both sides at once. */
  end(reason = 'client') {
    if (this.state.phase === 'ended' || this.state.phase === 'failed') return;
    // Leaving: what waits goes out now, with the end after it.
    this.hold.release();
    this.#send({ t: 'end', reason: cutText(reason, 200) });
    this.state.endReason = 'self';
    this.state.phase = 'ended';
    this.#screenEnded();
    this.#changed();
    this.#closeSoon();
  }

  #ended() {
    this.state.phase = 'ended';
    this.#screenEnded();
    this.#maybeClose();
  }

  /** #maybeClose closes the session once the host ended and announced records are in. */
  #maybeClose() {
    if (this.state.phase !== 'ended' || this.closing) return;
    const busy = this.state.files.some((f) => f.from === 'host' && f.state === 'receiving');
    if (!busy) return this.#closeSoon();
    clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => this.#closeSoon(), 120_000);
  }

  #closeSoon() {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.endTimer);
    const dc = this.dc;
    const close = () => this.o.session.close();
    if (!dc || dc.readyState !== 'open' || dc.bufferedAmount === 0) return close();
    const t = setTimeout(close, 1000);
    waitLow(dc, 0).then(
      () => {
        clearTimeout(t);
        close();
      },
      () => {},
    );
  }

  #fail(msg) {
    this.state.phase = 'failed';
    this.state.error = 'protocol';
    this.state.errorDetail = msg;
    this.#screenEnded();
    this.#send({ t: 'end', reason: 'protocol error' });
    this.#closeSoon();
  }

  #sessionDone(err) {
    for (const id of [...this.pending.keys()]) this.#dropPending(id);
    const s = this.state;
    if (s.phase === 'connected' || s.phase === 'connecting') {
      s.phase = s.host || !err ? 'ended' : 'failed';
      if (s.phase === 'failed') s.error = err?.kind ?? 'closed';
      if (!s.endReason) s.endReason = 'lost';
    }
    for (const f of s.files) if (f.state === 'receiving' || f.state === 'sending' || f.state === 'hashing') f.state = 'failed';
    this.#screenEnded();
    this.closing = true;
    clearTimeout(this.endTimer);
    this.o.session.close();
    this.#changed();
  }
}

/** cutText drops control characters and cuts s to max UTF-8 bytes at a character boundary. */
function cutText(s, max) {
  let out = '';
  let n = 0;
  for (const c of toWellFormedText(String(s))) {
    if (!validText(c)) continue;
    n += utf8(c).length;
    if (n > max) break;
    out += c;
  }
  return out;
}

function toWellFormedText(s) {
  return s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
}
