// Side b of a pairing (docs/protocol.md, sections 3 and 4), as
// internal/pairing.Claim: claim the nameplate's mailbox, answer CPace, check
// the key confirmation, exchange sealed hellos, then carry sealed signals in
// both directions. It runs on any WebSocket with the browser's API (the
// browser's own, or the `ws` package in node).

import { lvCat, utf8 } from './bytes.js';
import { CPaceError, respond } from './cpace.js';
import * as w from './wire.js';

const AD_A = utf8('direkt/v1 a');
const AD_B = utf8('direkt/v1 b');
const MAX_QUEUE = 2 * 64 + 16; // like internal/mailbox: more unread frames is a protocol error

/**
 * PairingError is why a pairing failed or stopped. kind is one of
 *   bad-code      the codes differ (key confirmation failed); the code is burned
 *   unknown-code  no such nameplate on the server (mistyped, expired or used)
 *   crowded       two peers already use this code
 *   expired       the mailbox timed out
 *   busy          the server is over its budgets: try again in a minute
 *   refused       the server refused (rate limit, too many)
 *   unreachable   the rendezvous server could not be reached
 *   tampered      a frame failed authentication or broke the protocol
 *   peer-gone     the other side left
 *   closed        closed locally (or aborted by the caller)
 */
export class PairingError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = 'PairingError';
    this.kind = kind;
  }
}

// A server over one of its budgets refuses with "rate-limited" and this
// message (internal/rendezvous: busyMessage); a client that asked too often
// hears "rate-limited" with another message.
const BUSY_MESSAGE = /\bserver is busy\b/i;

function serverError(f) {
  if (f.kind === 'rate-limited' && BUSY_MESSAGE.test(f.message ?? '')) {
    return new PairingError('busy', 'the server is busy, try again in a minute');
  }
  switch (f.kind) {
    case 'unknown-nameplate':
      return new PairingError('unknown-code', 'no such code on the server');
    case 'crowded':
      return new PairingError('crowded', 'this code is already in use by two peers');
    case 'expired':
      return new PairingError('expired', 'the code expired');
    case 'rate-limited':
    case 'too-many':
      return new PairingError('refused', `the server refused the request (${f.kind})`);
    default:
      return new PairingError('refused', `the server reported ${f.kind}`);
  }
}

function closedError(mood) {
  if (mood === 'scary') return new PairingError('bad-code', 'wrong code');
  if (mood === 'expired') return new PairingError('expired', 'the code expired');
  return new PairingError('peer-gone', `the other side left (${mood})`);
}

function moodFor(err) {
  if (err instanceof PairingError) {
    if (err.kind === 'bad-code' || err.kind === 'tampered') return 'scary';
    if (err.kind === 'closed') return 'lonely';
  }
  return 'errory';
}

/**
 * refusedHandshake tells what a failed WebSocket handshake could not: a
 * browser never shows its HTTP status. It asks the same URL again over
 * plain HTTP. A server over its connection budget answers 503, and an
 * address with too many connections 429, before any upgrade; then it
 * returns the PairingError kind ("busy", "refused"), else null (no answer,
 * or any other status: nothing to say beyond "unreachable").
 * @param {string} url the mailbox URL (ws or wss)
 * @param {typeof fetch} fetchFn
 */
export async function refusedHandshake(url, fetchFn, timeout = 5000) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  try {
    const r = await fetchFn(u.toString(), { cache: 'no-store', credentials: 'omit', redirect: 'manual', signal: ctl.signal });
    r.body?.cancel().catch(() => {});
    if (r.status === 503) return 'busy';
    if (r.status === 429) return 'refused';
    return null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** mailboxURL turns a server URL (http, https, ws, wss) into the mailbox WebSocket URL. */
export function mailboxURL(server) {
  const u = new URL(server);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`server URL scheme ${u.protocol}`);
  if (!u.pathname.endsWith(w.MAILBOX_PATH)) u.pathname = u.pathname.replace(/\/$/, '') + w.MAILBOX_PATH;
  u.hash = '';
  return u.toString();
}

// Re-opening (docs/protocol.md, section 3.1). The claim asks for a reopen
// token; once paired, a WebSocket that closes under us is dialled again
// with backoff, and "reopen" takes our place in the mailbox again: the
// server re-sends the messages we did not get, we re-send the bodies it
// did not get, so each arrives once and in order. A browser cannot ping
// its WebSocket, so a connection that died silently (an address that went
// away) is found by the session instead, which calls reopen itself.
export const REOPEN_GRACE = 60_000; // the server's grace for an absent side
const REOPEN_BACKOFF_MIN = 250;
// A browser cannot tell when the network is back (Firefox reported no
// "online" after its interface came back): it redials at least every
// second. A dial into a network that is gone fails at once and never
// reaches the server.
const REOPEN_BACKOFF_MAX = 1_000;
const REOPEN_DIAL_TIMEOUT = 10_000;

/**
 * Mailbox is the connection to one rendezvous mailbox, as a queue of checked
 * frames. Once paired with a reopen token it outlives its WebSocket.
 */
export class Mailbox {
  #ws;
  #url;
  #WS;
  #queue = [];
  #waiters = [];
  #err = null;
  #closed = false;
  #ended = false; // the server ended the mailbox (closed or error frame)
  #id = null; // mailbox id, from claimed
  #token = null; // reopen token, from paired
  #received = 0; // message frames received, over all connections
  #sent = []; // every body added, for re-sending after a reopen
  #down = false; // no usable WebSocket: bodies wait in #sent
  #reopening = null; // the running reopen, a Promise
  #pending = null; // the WebSocket a reopen attempt dials
  /** onconnection(up) is told when the WebSocket goes down and when it is back. */
  onconnection = null;

  constructor(ws, url = null, WS = null) {
    this.#ws = ws;
    this.#url = url;
    this.#WS = WS;
    this.#attach(ws);
  }

  #attach(ws) {
    ws.onmessage = (ev) => {
      if (ws !== this.#ws || this.#err) return;
      let f;
      try {
        f = w.parseServerFrame(ev.data);
      } catch (e) {
        this.#fail(new PairingError('tampered', `mailbox: ${e.message}`, { cause: e }));
        ws.close();
        return;
      }
      if (this.#queue.length >= MAX_QUEUE) {
        this.#fail(new PairingError('tampered', 'mailbox: too many unread frames'));
        ws.close();
        return;
      }
      if (f.type === 'paired' && f.token) this.#token = f.token;
      if (f.type === 'message') this.#received++;
      if (f.type === 'closed' || f.type === 'error') this.#ended = true;
      this.#queue.push(f);
      this.#wake();
    };
    ws.onclose = () => {
      if (ws === this.#ws) this.#lost(new PairingError(this.#closed ? 'closed' : 'peer-gone', 'the mailbox connection closed'));
    };
    ws.onerror = () => {
      if (ws === this.#ws) this.#lost(new PairingError('unreachable', 'cannot reach the rendezvous server'));
    };
  }

  /** reopenable says whether a lost connection can be re-opened. */
  get reopenable() {
    return !!(this.#token && this.#id && this.#url && this.#WS) && !this.#closed && !this.#ended && !this.#err;
  }

  /** up says whether the WebSocket is usable (not being re-opened). */
  get up() {
    return !this.#down && !this.#err;
  }

  #lost(err) {
    if (this.#down) return; // a reopen runs already
    if (!this.reopenable) {
      this.#fail(err);
      return;
    }
    this.reopen().catch(() => {}); // a failure ends the mailbox (#fail)
  }

  /**
   * dial opens the mailbox WebSocket and reads the welcome frame.
   * @param {string} url the mailbox URL (mailboxURL)
   * @param {typeof WebSocket} WS the WebSocket constructor
   * @param {AbortSignal} [signal]
   * @param {typeof fetch} [fetchFn] to ask why a handshake failed (refusedHandshake)
   */
  static async dial(url, WS, signal, fetchFn) {
    let ws;
    try {
      ws = new WS(url, w.SUBPROTOCOL);
    } catch (e) {
      throw new PairingError('unreachable', 'cannot reach the rendezvous server', { cause: e });
    }
    const mb = new Mailbox(ws, url, WS);
    let opened = false;
    try {
      await new Promise((resolve, reject) => {
        const stop = () => reject(new PairingError('closed', 'pairing aborted'));
        signal?.addEventListener('abort', stop, { once: true });
        ws.onopen = () => {
          opened = true;
          signal?.removeEventListener('abort', stop);
          resolve();
        };
        mb.#waiters.push({ resolve: () => {}, reject });
      });
      if (ws.protocol !== w.SUBPROTOCOL) throw new PairingError('unreachable', 'the server does not speak direkt.v1');
      const f = await mb.#next(signal);
      if (f.type !== 'welcome' || f.version !== 1) throw new PairingError('tampered', `expected welcome, got ${f.type}`);
    } catch (e) {
      mb.#closed = true;
      ws.close();
      const err = e instanceof PairingError ? e : new PairingError('unreachable', 'cannot reach the rendezvous server', { cause: e });
      if (err.kind === 'unreachable' && !opened && fetchFn && !signal?.aborted) {
        const kind = await refusedHandshake(url, fetchFn);
        if (kind === 'busy') throw new PairingError('busy', 'the server is busy, try again in a minute', { cause: err });
        if (kind === 'refused') throw new PairingError('refused', 'the server refused: too many connections from this address', { cause: err });
      }
      throw err;
    }
    mb.#waiters = [];
    return mb;
  }

  #fail(err) {
    if (!this.#err) this.#err = err;
    this.#wake();
  }

  #wake() {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const x of ws) {
      if (this.#queue.length) x.resolve();
      else if (this.#err) x.reject(this.#err);
      else this.#waiters.push(x);
    }
  }

  async #next(signal) {
    for (;;) {
      if (this.#queue.length) return this.#queue.shift();
      if (this.#err) throw this.#err;
      if (signal?.aborted) throw new PairingError('closed', 'pairing aborted');
      await new Promise((resolve, reject) => {
        const stop = () => reject(new PairingError('closed', 'pairing aborted'));
        signal?.addEventListener('abort', stop, { once: true });
        this.#waiters.push({
          resolve: () => {
            signal?.removeEventListener('abort', stop);
            resolve();
          },
          reject: (e) => {
            signal?.removeEventListener('abort', stop);
            reject(e);
          },
        });
      });
    }
  }

  /** next returns the next paired/message/closed frame; an error frame throws. */
  async next(signal) {
    const f = await this.#next(signal);
    if (f.type === 'error') throw serverError(f);
    if (f.type === 'paired' || f.type === 'message' || f.type === 'closed') return f;
    throw new PairingError('tampered', `unexpected ${f.type} frame`);
  }

  /** claim claims nameplate as side b (asking for a reopen token) and returns the mailbox id (sid). */
  async claim(nameplate, signal) {
    this.send(w.claimFrame(nameplate, true));
    const f = await this.#next(signal);
    if (f.type === 'claimed') {
      this.#id = f.mailbox;
      return f.mailbox;
    }
    if (f.type === 'error') throw serverError(f);
    throw new PairingError('tampered', `${f.type} frame in reply to claim`);
  }

  send(text) {
    if (this.#err) throw this.#err;
    this.#ws.send(text);
  }

  /** add delivers body to the other side; while the connection is down it waits for the reopen. */
  add(body) {
    if (this.#err) throw this.#err;
    if (this.#closed) throw new PairingError('closed', 'the mailbox is closed');
    if (this.#sent.length >= w.MAX_BODIES) throw new PairingError('refused', `no more than ${w.MAX_BODIES} signalling messages per side`);
    const frame = w.addFrame(body);
    this.#sent.push(body);
    if (!this.#down) this.#ws.send(frame);
  }

  /**
   * reopen replaces the WebSocket by a fresh one that re-opens the mailbox
   * (section 3.1), dialling with backoff for as long as the server's grace
   * lasts. Calls while one runs share it. It rejects, and the mailbox ends,
   * when the server refuses or the grace is over.
   */
  reopen() {
    if (!this.reopenable) return Promise.reject(this.#err ?? new PairingError('closed', 'the mailbox cannot be re-opened'));
    this.#reopening ??= this.#reopenLoop().finally(() => (this.#reopening = null));
    return this.#reopening;
  }

  async #reopenLoop() {
    const old = this.#ws;
    this.#down = true;
    this.onconnection?.(false);
    old.onmessage = old.onclose = old.onerror = null;
    try {
      old.close(); // to the server a drop: the mailbox waits for us
    } catch {
      // gone already
    }
    const deadline = Date.now() + REOPEN_GRACE;
    let backoff = REOPEN_BACKOFF_MIN;
    for (;;) {
      if (this.#closed) throw new PairingError('closed', 'the mailbox is closed');
      let err;
      try {
        await this.#reopenOnce(Math.min(REOPEN_DIAL_TIMEOUT, deadline - Date.now()));
        this.onconnection?.(true);
        return;
      } catch (e) {
        err = e;
      }
      const final = err.kind !== 'unreachable' && err.serverKind !== 'rate-limited';
      const wait = Math.min(backoff, deadline - Date.now());
      if (final || wait <= 0 || this.#closed) {
        this.#fail(final ? err : new PairingError('unreachable', 'the rendezvous server could not be reached again', { cause: err }));
        throw this.#err;
      }
      await new Promise((r) => setTimeout(r, wait));
      backoff = Math.min(2 * backoff, REOPEN_BACKOFF_MAX);
    }
  }

  /** reopenOnce makes one attempt: dial, welcome, reopen, reopened, re-send. */
  #reopenOnce(timeout) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.#WS(this.#url, w.SUBPROTOCOL);
      } catch (e) {
        reject(new PairingError('unreachable', 'cannot reach the rendezvous server', { cause: e }));
        return;
      }
      this.#pending = ws;
      let welcomed = false;
      const timer = setTimeout(() => done(new PairingError('unreachable', 'the mailbox was not re-opened in time')), Math.max(timeout, 0));
      const done = (err) => {
        clearTimeout(timer);
        if (this.#pending === ws) this.#pending = null;
        if (!err) return resolve();
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch {
          // never opened
        }
        reject(err);
      };
      ws.onerror = ws.onclose = () => done(new PairingError('unreachable', 'cannot reach the rendezvous server'));
      ws.onopen = () => {
        if (ws.protocol !== w.SUBPROTOCOL) done(new PairingError('tampered', 'the server does not speak direkt.v1'));
      };
      ws.onmessage = (ev) => {
        let f;
        try {
          f = w.parseServerFrame(ev.data);
        } catch (e) {
          return done(new PairingError('tampered', `mailbox: ${e.message}`, { cause: e }));
        }
        if (this.#closed) return done(new PairingError('closed', 'the mailbox is closed'));
        if (!welcomed) {
          if (f.type !== 'welcome' || f.version !== 1) return done(new PairingError('tampered', `expected welcome, got ${f.type}`));
          welcomed = true;
          ws.send(w.reopenFrame(this.#id, this.#token, this.#received));
          return;
        }
        if (f.type === 'error') {
          // The mailbox ended (the grace ran out, or it expired): no more
          // signalling, but the session's path may be fine.
          const e = f.kind === 'unknown-mailbox' ? new PairingError('expired', 'the mailbox is gone') : serverError(f);
          e.serverKind = f.kind;
          return done(e);
        }
        if (f.type !== 'reopened') return done(new PairingError('tampered', `${f.type} frame in reply to reopen`));
        if (f.received > this.#sent.length) return done(new PairingError('tampered', `the server claims ${f.received} bodies, ${this.#sent.length} were added`));
        // In order: what the server lacks, before anything new (add
        // writes to this WebSocket only from here on).
        for (const body of this.#sent.slice(f.received)) ws.send(w.addFrame(body));
        this.#ws = ws;
        this.#attach(ws);
        this.#down = false;
        done(null);
      };
    });
  }

  /** close leaves the mailbox with mood and closes the WebSocket. It is idempotent. */
  close(mood) {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#err && !this.#down && this.#ws.readyState === 1) this.#ws.send(w.closeFrame(mood));
    } catch {
      // the connection is going anyway
    }
    this.#ws.close(1000);
    if (this.#pending) {
      this.#pending.onopen = this.#pending.onmessage = this.#pending.onclose = this.#pending.onerror = null;
      this.#pending.close();
      this.#pending = null;
    }
  }
}

/**
 * claim pairs as side b and returns a Pair once the hellos are exchanged.
 * @param {object} o
 * @param {string} o.server rendezvous URL (http, https, ws or wss)
 * @param {{nameplate: string, code: string, lang: string|null}} o.code a parsed code (Codes.parse)
 * @param {(lang: string, idx: number[]) => string} o.phrase the check phrase of a language and SAS indices
 * @param {object} o.hello this peer's hello fields (name, app, path); t and v are set here
 * @param {typeof WebSocket} o.WebSocket
 * @param {typeof fetch} [o.fetch] to tell a busy server from an unreachable one when the WebSocket handshake fails
 * @param {AbortSignal} [o.signal]
 * @param {(step: string) => void} [o.progress] called with "claimed", "pake", "confirmed"
 */
export async function claim(o) {
  const mb = await Mailbox.dial(mailboxURL(o.server), o.WebSocket, o.signal, o.fetch);
  try {
    const sid = await mb.claim(o.code.nameplate, o.signal);
    o.progress?.('claimed');
    const prs = utf8(o.code.code);
    const ci = lvCat(utf8('direkt/v1'), utf8(o.code.nameplate));
    let ice = [];
    let keys = null;
    let sentB = false;
    for (;;) {
      const f = await mb.next(o.signal);
      if (f.type === 'paired') {
        ice = f.iceServers;
        continue;
      }
      if (f.type === 'closed') {
        if (sentB && f.mood === 'scary') throw new PairingError('bad-code', 'wrong code');
        throw closedError(f.mood);
      }
      let pf;
      try {
        pf = w.parsePairingFrame(f.body);
      } catch (e) {
        throw new PairingError('tampered', `signalling was tampered with: ${e.message}`, { cause: e });
      }
      if (pf.kind === w.KIND_ABORT) throw new PairingError('peer-gone', 'the other side gave up');
      if (pf.kind === w.KIND_PAKE_A && !sentB) {
        let r;
        try {
          r = respond(prs, ci, sid, AD_B, pf.y, AD_A);
        } catch (e) {
          if (e instanceof CPaceError) throw new PairingError('tampered', 'signalling was tampered with: invalid CPace share', { cause: e });
          throw e;
        }
        keys = w.deriveKeys(r.isk);
        mb.add(w.encodePakeB(r.yb, w.confirm(keys.kcB, sid)));
        sentB = true;
        o.progress?.('pake');
        continue;
      }
      if (pf.kind === w.KIND_CONFIRM_A && sentB) {
        if (!w.checkConfirm(keys.kcA, sid, pf.t)) throw new PairingError('bad-code', 'wrong code');
        o.progress?.('confirmed');
        break;
      }
      throw new PairingError('tampered', `signalling was tampered with: unexpected frame kind 0x${pf.kind.toString(16)}`);
    }
    const pair = new Pair(mb, keys, ice, o.phrase(o.code.lang ?? 'en', w.sasIndices(keys.sas)), o.code.lang ?? 'en');
    pair.send({ ...o.hello, t: 'hello', v: 1 });
    const peer = await pair.recv(o.signal);
    if (peer.t !== 'hello') throw new PairingError('tampered', `expected hello, got ${peer.t}`);
    pair.peer = peer;
    return pair;
  } catch (e) {
    const err = e instanceof PairingError ? e : new PairingError('tampered', String(e?.message ?? e), { cause: e });
    mb.close(moodFor(err));
    throw err;
  }
}

/**
 * Pair is a paired, key-confirmed signalling channel of side b: send seals,
 * recv opens, strictly in order. After the first bad frame it stops for good.
 */
export class Pair {
  role = 'b';
  /** @type {object|null} the other side's hello */
  peer = null;
  #mb;
  #sealer;
  #opener;
  #err = null;
  #reading = false;

  constructor(mb, keys, iceServers, phrase, lang) {
    this.#mb = mb;
    this.keys = keys;
    this.iceServers = iceServers;
    this.phrase = phrase;
    this.lang = lang;
    this.#sealer = new w.Sealer(keys.ksBA);
    this.#opener = new w.Opener(keys.ksAB);
  }

  /** err is why the pair stopped receiving, or null. */
  get err() {
    return this.#err;
  }

  /** send seals sig and adds it to the mailbox. */
  send(sig) {
    if (this.#err && this.#err.kind === 'closed') throw this.#err;
    this.#mb.add(this.#sealer.seal(sig));
  }

  /** recv returns the next signal from the peer; it throws PairingError when the pair stopped. */
  async recv(signal) {
    if (this.#err) throw this.#err;
    if (this.#reading) throw new Error('pairing: concurrent recv');
    this.#reading = true;
    try {
      for (;;) {
        const f = await this.#mb.next(signal);
        if (f.type === 'paired') continue;
        if (f.type === 'closed') {
          throw f.mood === 'scary'
            ? new PairingError('tampered', 'the other side refused a signalling message')
            : closedError(f.mood);
        }
        let pf;
        try {
          pf = w.parsePairingFrame(f.body);
        } catch (e) {
          throw new PairingError('tampered', `signalling was tampered with: ${e.message}`, { cause: e });
        }
        if (pf.kind === w.KIND_ABORT) throw new PairingError('peer-gone', 'the other side gave up');
        let sig;
        try {
          sig = this.#opener.open(f.body);
        } catch (e) {
          throw new PairingError('tampered', `signalling was tampered with: ${e.message}`, { cause: e });
        }
        if (sig.t === 'bye') throw new PairingError('peer-gone', 'the other side left');
        return sig;
      }
    } catch (e) {
      if (!(e instanceof PairingError && e.kind === 'closed' && signal?.aborted)) {
        this.#err ??= e;
        if (e.kind === 'tampered') this.#mb.close('scary');
      }
      throw e;
    } finally {
      this.#reading = false;
    }
  }

  /** reopen re-opens the mailbox on a fresh WebSocket (Mailbox.reopen). */
  reopen() {
    return this.#mb.reopen();
  }

  /** reopenable says whether the mailbox can still be re-opened. */
  get reopenable() {
    return this.#mb.reopenable;
  }

  /** mailboxUp says whether the mailbox's WebSocket is usable. */
  get mailboxUp() {
    return this.#mb.up;
  }

  /** close leaves the mailbox with mood (happy, scary, lonely, errory). */
  close(mood) {
    this.#err ??= new PairingError('closed', 'pairing closed');
    this.#mb.close(mood);
  }
}
