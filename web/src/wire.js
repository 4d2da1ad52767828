// The pairing protocol's bytes (docs/protocol.md, sections 3, 4, 6 and 7), as
// internal/wire implements them: mailbox frames, pairing frames, the key
// schedule, sealed signals with strict sequence numbers, signal validation,
// the channel-binding proof and the check-phrase indices. Pinned by
// testdata/pairing-v1.json (web/test/wire.test.mjs).

import { gcm } from '@noble/ciphers/aes.js';
import { expand } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concat, equal, fromBase64, fromUTF8, toBase64, toWellFormed, u64be, utf8, wellFormed } from './bytes.js';

// Mailbox protocol (section 3).
export const MAILBOX_PATH = '/v1/mailbox';
export const SUBPROTOCOL = 'direkt.v1';
export const MAX_FRAME = 64 << 10;
export const MAX_BODY = 16 << 10;
export const MAILBOX_ID_SIZE = 16;
export const REOPEN_TOKEN_SIZE = 32;
export const MAX_BODIES = 256; // bodies each side may add to a mailbox
export const MAX_TEXT = 1024;
export const MAX_ICE_SERVERS = 16;
export const MAX_URL = 512;
export const MAX_NAMEPLATE_LEN = 10;

// Pairing frames (section 4).
export const VERSION = 1;
export const KIND_PAKE_A = 0x01;
export const KIND_PAKE_B = 0x02;
export const KIND_CONFIRM_A = 0x03;
export const KIND_SEALED = 0x10;
export const KIND_ABORT = 0x7f;
export const POINT_SIZE = 32;
export const TAG_SIZE = 32;
export const MAX_ABORT_REASON = 256;
export const SEALED_HEADER_SIZE = 10;
const GCM_TAG_SIZE = 16;

// Signal limits (section 4.3), in UTF-8 bytes.
export const MAX_SDP = 12 << 10;
export const MAX_CANDIDATE = 1024;
export const MAX_MID = 64;
export const MAX_NAME = 128;
export const MAX_REASON = 256;
export const ID_SIZE = 32;
export const SIG_SIZE = 64;

/**
 * WireError is a frame, body or signal that breaks docs/protocol.md. kind is
 * "malformed", "too-large", "version", "unknown-type", "sequence", "auth" or
 * "broken", matching internal/wire's sentinel errors.
 */
export class WireError extends Error {
  constructor(kind, message) {
    super(`wire: ${message}`);
    this.name = 'WireError';
    this.kind = kind;
  }
}

const malformed = (m) => new WireError('malformed', m);
const tooLarge = (m) => new WireError('too-large', m);

const byteLen = (s) => utf8(s).length;

/** isControl is Go's unicode.IsControl: the Cc category. */
function isControl(cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/** validText: no control characters (and, in JS, no lone surrogates). */
export function validText(s) {
  if (typeof s !== 'string' || !wellFormed(s)) return false;
  for (const ch of s) if (isControl(ch.codePointAt(0))) return false;
  return true;
}

/** printableASCII: bytes 0x20–0x7e only. */
export function printableASCII(s) {
  return typeof s === 'string' && /^[\x20-\x7e]*$/.test(s);
}

function validNameplate(s) {
  return typeof s === 'string' && s.length <= MAX_NAMEPLATE_LEN && /^[1-9][0-9]*$/.test(s);
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v) => v === undefined || v === null || typeof v === 'string';
const str = (v) => (typeof v === 'string' ? v : '');

function optBase64(v, what) {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== 'string') throw malformed(`${what} is not base64`);
  try {
    return fromBase64(v);
  } catch {
    throw malformed(`${what} is not base64`);
  }
}

/**
 * parseServerFrame decodes one mailbox frame from the server (a WebSocket text
 * message) and checks it as wire.Frame.Validate does for the server's types.
 * Byte fields (mailbox, body) come back as Uint8Array.
 */
export function parseServerFrame(text) {
  if (typeof text !== 'string') throw malformed('binary mailbox frame');
  if (byteLen(text) > MAX_FRAME) throw tooLarge(`frame of ${byteLen(text)} bytes`);
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw malformed('frame json');
  }
  if (!isObject(v) || typeof v.type !== 'string') throw malformed('frame without type');
  const f = { type: v.type };
  const bad = (m) => malformed(`${v.type} frame: ${m}`);
  switch (v.type) {
    case 'welcome':
      if (!Number.isInteger(v.version ?? 0)) throw bad('version');
      if (!optString(v.motd) || byteLen(str(v.motd)) > MAX_TEXT || !validText(str(v.motd))) throw bad('motd');
      f.version = v.version ?? 0;
      f.motd = str(v.motd);
      break;
    case 'claimed':
    case 'allocated':
      f.mailbox = optBase64(v.mailbox, 'mailbox');
      if (f.mailbox.length !== MAILBOX_ID_SIZE) throw bad(`mailbox of ${f.mailbox.length} bytes`);
      if (v.type === 'allocated') {
        if (!validNameplate(v.nameplate)) throw bad('nameplate');
        f.nameplate = v.nameplate;
      }
      break;
    case 'paired': {
      const list = v.ice_servers ?? [];
      if (!Array.isArray(list) || list.length > MAX_ICE_SERVERS) throw bad('ice servers');
      f.iceServers = list.map((s) => {
        if (!isObject(s) || !Array.isArray(s.urls) || s.urls.length === 0 || s.urls.length > MAX_ICE_SERVERS) {
          throw bad('ice server');
        }
        for (const u of s.urls) {
          if (typeof u !== 'string' || u === '' || u.length > MAX_URL || !printableASCII(u)) throw bad('ice server url');
        }
        for (const x of [s.username, s.credential]) {
          if (!optString(x) || str(x).length > MAX_URL || !printableASCII(str(x))) throw bad('ice server credentials');
        }
        const out = { urls: [...s.urls] };
        if (str(s.username)) out.username = s.username;
        if (str(s.credential)) out.credential = s.credential;
        return out;
      });
      const ttl = v.ttl ?? 0;
      if (!Number.isInteger(ttl) || ttl < 0) throw bad('ttl');
      f.ttl = ttl;
      if (v.token !== undefined && v.token !== null) {
        f.token = optBase64(v.token, 'token');
        if (f.token.length !== REOPEN_TOKEN_SIZE) throw bad(`token of ${f.token.length} bytes`);
      }
      break;
    }
    case 'reopened': {
      const n = v.received ?? 0;
      if (!Number.isInteger(n) || n < 0 || n > MAX_BODIES) throw bad('received');
      f.received = n;
      break;
    }
    case 'message':
      f.body = optBase64(v.body, 'body');
      if (f.body.length > MAX_BODY) throw tooLarge(`body of ${f.body.length} bytes`);
      if (f.body.length === 0) throw bad('empty body');
      break;
    case 'closed':
      if (!['happy', 'scary', 'lonely', 'errory', 'expired'].includes(v.mood)) throw bad('mood');
      f.mood = v.mood;
      break;
    case 'error':
      if (typeof v.kind !== 'string' || v.kind === '' || v.kind.length > 64 || !printableASCII(v.kind)) throw bad('kind');
      if (!optString(v.message) || byteLen(str(v.message)) > MAX_TEXT || !validText(str(v.message))) throw bad('message');
      f.kind = v.kind;
      f.message = str(v.message);
      break;
    default:
      throw new WireError('unknown-type', `mailbox frame type ${JSON.stringify(v.type).slice(0, 40)}`);
  }
  return f;
}

/**
 * claimFrame, reopenFrame, addFrame and closeFrame are the client's mailbox
 * frames. A claim with reopen asks for a reopen token (section 3.1).
 */
export function claimFrame(nameplate, reopen = false) {
  if (!validNameplate(nameplate)) throw malformed('claim nameplate');
  return JSON.stringify(reopen ? { type: 'claim', nameplate, reopen: true } : { type: 'claim', nameplate });
}
export function reopenFrame(mailbox, token, received) {
  if (mailbox.length !== MAILBOX_ID_SIZE) throw malformed('reopen mailbox');
  if (token.length !== REOPEN_TOKEN_SIZE) throw malformed('reopen token');
  if (!Number.isInteger(received) || received < 0 || received > MAX_BODIES) throw malformed('reopen received');
  const f = { type: 'reopen', mailbox: toBase64(mailbox), token: toBase64(token) };
  if (received) f.received = received;
  return JSON.stringify(f);
}
export function addFrame(body) {
  if (body.length === 0) throw malformed('empty body');
  if (body.length > MAX_BODY) throw tooLarge(`body of ${body.length} bytes`);
  return JSON.stringify({ type: 'add', body: toBase64(body) });
}
export function closeFrame(mood) {
  if (!['happy', 'scary', 'lonely', 'errory'].includes(mood)) throw malformed('mood');
  return JSON.stringify({ type: 'close', mood });
}

// --- pairing frames ---

export function encodePakeA(ya) {
  if (ya.length !== POINT_SIZE) throw new RangeError('Ya size');
  return concat([VERSION, KIND_PAKE_A], ya);
}
export function encodePakeB(yb, tb) {
  if (yb.length !== POINT_SIZE || tb.length !== TAG_SIZE) throw new RangeError('Yb/Tb size');
  return concat([VERSION, KIND_PAKE_B], yb, tb);
}
export function encodeConfirmA(ta) {
  if (ta.length !== TAG_SIZE) throw new RangeError('Ta size');
  return concat([VERSION, KIND_CONFIRM_A], ta);
}

/** encodeAbort makes reason valid for the wire (like wire.EncodeAbort). */
export function encodeAbort(reason) {
  let s = '';
  for (const ch of toWellFormed(String(reason))) s += isControl(ch.codePointAt(0)) ? '\uFFFD' : ch;
  let b = utf8(s);
  if (b.length > MAX_ABORT_REASON) {
    let n = MAX_ABORT_REASON;
    while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
    b = b.slice(0, n);
  }
  return concat([VERSION, KIND_ABORT], b);
}

/**
 * parsePairingFrame parses a mailbox body strictly, as wire.ParsePairingFrame:
 * {kind, y?, t?, seq?, sealed?, reason?}. seq is a BigInt.
 */
export function parsePairingFrame(body) {
  if (body.length > MAX_BODY) throw tooLarge(`body of ${body.length} bytes`);
  if (body.length < 2) throw malformed(`body of ${body.length} bytes`);
  if (body[0] !== VERSION) throw new WireError('version', `unsupported protocol version ${body[0]}`);
  const kind = body[1];
  const p = body.subarray(2);
  const exact = (n) => {
    if (p.length !== n) throw malformed(`kind 0x${kind.toString(16)} with ${p.length} payload bytes, want ${n}`);
  };
  switch (kind) {
    case KIND_PAKE_A:
      exact(POINT_SIZE);
      return { kind, y: p.slice() };
    case KIND_PAKE_B:
      exact(POINT_SIZE + TAG_SIZE);
      return { kind, y: p.slice(0, POINT_SIZE), t: p.slice(POINT_SIZE) };
    case KIND_CONFIRM_A:
      exact(TAG_SIZE);
      return { kind, t: p.slice() };
    case KIND_SEALED:
      if (p.length < 8 + GCM_TAG_SIZE) throw malformed(`sealed frame of ${body.length} bytes`);
      return { kind, seq: new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0), sealed: p.slice(8) };
    case KIND_ABORT: {
      if (p.length > MAX_ABORT_REASON) throw tooLarge(`abort reason of ${p.length} bytes`);
      let reason;
      try {
        reason = fromUTF8(p);
      } catch {
        throw malformed('abort reason is not UTF-8');
      }
      if (!validText(reason)) throw malformed('abort reason is not printable');
      return { kind, reason };
    }
    default:
      throw new WireError('unknown-type', `pairing frame kind 0x${kind.toString(16)}`);
  }
}

// --- key schedule (section 4.2) ---

export const ISK_SIZE = 64;

/**
 * deriveKeys expands ISK: HKDF-Expand(SHA-512, ISK, info, L) for kc_a, kc_b,
 * ks_ab, ks_ba, kbind (32 bytes) and sas (4 bytes).
 */
export function deriveKeys(isk) {
  if (isk.length !== ISK_SIZE) throw new WireError('malformed', `ISK is ${isk.length} bytes`);
  const x = (info, n) => expand(sha512, isk, utf8(`direkt/v1 ${info}`), n);
  return {
    kcA: x('confirm a', 32),
    kcB: x('confirm b', 32),
    ksAB: x('seal a->b', 32),
    ksBA: x('seal b->a', 32),
    kbind: x('binding', 32),
    sas: x('sas', 4),
  };
}

/** confirm is HMAC-SHA256(key, sid): Ta with kc_a, Tb with kc_b. */
export function confirm(key, sid) {
  return hmac(sha256, key, sid);
}

/** checkConfirm compares a tag in constant time. */
export function checkConfirm(key, sid, tag) {
  return equal(confirm(key, sid), tag);
}

/** sasIndices splits the first 30 bits of sas into three 10-bit indices (section 7). */
export function sasIndices(sas) {
  const v = new DataView(sas.buffer, sas.byteOffset, 4).getUint32(0);
  return [(v >>> 22) & 0x3ff, (v >>> 12) & 0x3ff, (v >>> 2) & 0x3ff];
}

/** bindingProof is HMAC-SHA256(kbind, "direkt/v1 binding " || role || fp_a || fp_b) (section 6). */
export function bindingProof(kbind, role, fpA, fpB) {
  if (role !== 'a' && role !== 'b') throw new RangeError('role');
  if (fpA.length !== 32 || fpB.length !== 32) throw new RangeError('fingerprint size');
  return hmac(sha256, kbind, concat(utf8('direkt/v1 binding '), utf8(role), fpA, fpB));
}

// --- signals (section 4.3) ---

// A hello's "screen" (docs/screen.md, "Negotiation"), as wire.ScreenVersion
// and wire.MaxScreen: the version this client speaks, and the most a hello
// may say.
export const SCREEN_VERSION = 1;
export const MAX_SCREEN = 255;

/** canScreen says whether a hello's sender can show and share a screen. */
export const canScreen = (hello) => hello?.t === 'hello' && Number.isInteger(hello.screen) && hello.screen >= SCREEN_VERSION;

const SIGNAL_TYPES = ['hello', 'offer', 'answer', 'cand', 'cand-end', 'bye', 'proof', 'restart', 'reconnect'];

/**
 * validateSignal checks a decoded signal as wire.Signal.Validate does, looking
 * only at the fields of its type. It throws WireError.
 */
export function validateSignal(s) {
  if (!isObject(s) || typeof s.t !== 'string') throw malformed('signal without t');
  switch (s.t) {
    case 'hello': {
      if (s.v !== 1) throw malformed('hello v');
      if (!optString(s.name)) throw malformed('hello name');
      if (byteLen(str(s.name)) > MAX_NAME) throw tooLarge('hello name');
      if (!validText(str(s.name))) throw malformed('hello name is not printable');
      if (s.id !== undefined && s.id !== null && optBase64(s.id, 'hello id').length !== ID_SIZE) {
        throw malformed('hello id size');
      }
      if (!['', 'send', 'consult'].includes(s.app ?? '')) throw malformed('hello app');
      if (!['', 'auto', 'direct', 'relay'].includes(s.path ?? '')) throw malformed('hello path');
      // docs/screen.md, "Negotiation": 0 (absent) cannot, 1 and later can.
      if (s.screen !== undefined && s.screen !== null && !(Number.isInteger(s.screen) && s.screen >= 0 && s.screen <= MAX_SCREEN)) {
        throw malformed('hello screen');
      }
      break;
    }
    case 'offer':
    case 'answer':
      if (typeof s.sdp !== 'string' || s.sdp === '' || !wellFormed(s.sdp)) throw malformed(`${s.t} without valid sdp`);
      if (byteLen(s.sdp) > MAX_SDP) throw tooLarge(`sdp of ${byteLen(s.sdp)} bytes`);
      break;
    case 'cand':
      if (typeof s.c !== 'string') throw malformed('candidate');
      if (s.c.length > MAX_CANDIDATE) throw tooLarge('candidate');
      if (s.c === '' || !printableASCII(s.c)) throw malformed('candidate is empty or not printable ASCII');
      if (s.mid !== undefined && s.mid !== null && (typeof s.mid !== 'string' || s.mid.length > MAX_MID || !printableASCII(s.mid))) {
        throw malformed('candidate mid');
      }
      if (s.idx !== undefined && s.idx !== null && !(Number.isInteger(s.idx) && s.idx >= 0 && s.idx <= 0xffff)) {
        throw malformed('candidate idx');
      }
      break;
    case 'cand-end':
    case 'restart': // section 5.1: b asks a to restart ICE; no fields
    case 'reconnect': // section 5.2: a browser b asks a for a new connection; no fields
      break;
    case 'bye':
      if (!optString(s.reason)) throw malformed('bye reason');
      if (byteLen(str(s.reason)) > MAX_REASON) throw tooLarge('bye reason');
      if (!validText(str(s.reason))) throw malformed('bye reason is not printable');
      break;
    case 'proof': // rejoin only (docs/protocol.md, section 8); a browser never rejoins
      if (optBase64(s.sig, 'proof sig').length !== SIG_SIZE) throw malformed('proof signature size');
      break;
    default:
      throw new WireError('unknown-type', `signal ${JSON.stringify(s.t).slice(0, 40)}`);
  }
}

/**
 * marshalSignal validates s and returns its JSON bytes exactly as Go's
 * wire.Signal.Marshal writes them: keys in struct order, empty fields left
 * out, no whitespace, no HTML escaping, U+2028/U+2029 escaped.
 */
export function marshalSignal(s) {
  validateSignal(s);
  const o = { t: s.t };
  const put = (k, v) => {
    if (v !== undefined && v !== null && v !== '' && v !== 0) o[k] = v;
  };
  put('v', s.v);
  put('name', s.name);
  if (s.id instanceof Uint8Array) put('id', s.id.length ? toBase64(s.id) : '');
  else put('id', s.id);
  put('app', s.app);
  put('path', s.path);
  put('screen', s.screen);
  put('sdp', s.sdp);
  put('c', s.c);
  if (s.mid !== undefined && s.mid !== null) o.mid = s.mid; // a pointer in Go: "" is kept
  if (s.idx !== undefined && s.idx !== null) o.idx = s.idx; // 0 is kept
  put('reason', s.reason);
  if (s.sig instanceof Uint8Array) put('sig', toBase64(s.sig));
  else put('sig', s.sig);
  const json = JSON.stringify(o).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return utf8(json);
}

/** parseSignal decodes a signal's JSON plaintext and validates it. */
export function parseSignal(data) {
  if (data.length > MAX_BODY) throw tooLarge(`signal of ${data.length} bytes`);
  let s;
  try {
    s = JSON.parse(fromUTF8(data));
  } catch {
    throw malformed('signal json');
  }
  validateSignal(s);
  return s;
}

function sealedHeader(seq) {
  return concat([VERSION, KIND_SEALED], u64be(seq));
}
function sealedNonce(seq) {
  return concat(new Uint8Array(4), u64be(seq));
}

/** Sealer seals the signals of one direction; the first has seq 0. */
export class Sealer {
  #key;
  #seq = 0;
  constructor(key) {
    if (key.length !== 32) throw new RangeError('key size');
    this.#key = key;
  }
  /** seal validates sig and returns the whole sealed body. A refused signal uses no seq. */
  seal(sig) {
    const pt = marshalSignal(sig);
    const size = SEALED_HEADER_SIZE + pt.length + GCM_TAG_SIZE;
    if (size > MAX_BODY) throw tooLarge(`sealed ${sig.t} of ${size} bytes`);
    const h = sealedHeader(this.#seq);
    const ct = gcm(this.#key, sealedNonce(this.#seq), h).encrypt(pt);
    this.#seq++;
    return concat(h, ct);
  }
}

/**
 * Opener opens the sealed frames of one direction strictly in order. Its
 * first failure is permanent: every later open throws a "broken" WireError.
 */
export class Opener {
  #key;
  #next = 0n;
  #broken = null;
  constructor(key) {
    if (key.length !== 32) throw new RangeError('key size');
    this.#key = key;
  }
  open(body) {
    if (this.#broken) throw new WireError('broken', `sealed channel broken by an earlier failure: ${this.#broken.message}`);
    try {
      const s = this.#open(body);
      this.#next++;
      return s;
    } catch (e) {
      this.#broken = e;
      throw e;
    }
  }
  #open(body) {
    const f = parsePairingFrame(body);
    if (f.kind !== KIND_SEALED) throw malformed(`kind 0x${f.kind.toString(16)} where a sealed frame was expected`);
    if (f.seq !== this.#next) throw new WireError('sequence', `unexpected sequence number ${f.seq}, want ${this.#next}`);
    let pt;
    try {
      pt = gcm(this.#key, sealedNonce(f.seq), sealedHeader(f.seq)).decrypt(f.sealed);
    } catch {
      throw new WireError('auth', 'message authentication failed');
    }
    return parseSignal(pt);
  }
}

export { SIGNAL_TYPES };
