// The WebRTC side of a session (docs/protocol.md, sections 5 and 6), as
// internal/session does it for role b: the host (side a) sends the offer;
// the answer and trickle candidates go back as sealed signals; the
// negotiated "ctl" channel (id 0) carries the channel-binding proofs: ours
// first, then the host's is checked. Only then is the session connected.
// Afterwards a lost path is brought back by an ICE restart (restart.js):
// the host sends a new offer, which is answered like the first.

import { equal, fromHex } from './bytes.js';
import { SendHold } from './hold.js';
import { pairActivity, POLL, Reconnector, SILENT, SUSPECT } from './restart.js';
import { bindingProof } from './wire.js';

/** SessionError is why a session could not be set up or ended: kind "no-path", "binding", "tampered", "peer-gone", "closed". */
export class SessionError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = 'SessionError';
    this.kind = kind;
  }
}

/**
 * sdpFingerprint returns the SHA-256 DTLS fingerprint of an SDP (32 bytes),
 * or null if it has none. All sha-256 fingerprint lines must agree: a
 * description with two different ones is refused (it throws).
 */
export function sdpFingerprint(sdp) {
  let fp = null;
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/.exec(line);
    if (!m || m[1].toLowerCase() !== 'sha-256') continue;
    const hex = m[2].split(':');
    if (hex.length !== 32 || hex.some((x) => x.length !== 2)) throw new SessionError('tampered', 'malformed DTLS fingerprint');
    const b = fromHex(hex.join(''));
    if (fp && !equal(fp, b)) throw new SessionError('tampered', 'two different DTLS fingerprints');
    fp = b;
  }
  return fp;
}

/**
 * relayAddress returns "ip:port" of a relay candidate line, or null. A
 * browser often learns the host's relay address as peer-reflexive (its
 * checks arrive before the signalled candidate), so the signalled relay
 * addresses tell what such a candidate really is.
 */
export function relayAddress(line) {
  const f = line.replace(/^a=/, '').split(' ');
  const typ = f.indexOf('typ');
  if (typ !== 6 || f[7] !== 'relay') return null;
  return `${f[4].toLowerCase()}:${f[5]}`;
}

/**
 * pathOf reads the selected candidate pair from getStats: {kind:
 * "direct"|"relay", local, remote, proto}. relays holds the host's relay
 * addresses ("ip:port"); a peer-reflexive remote candidate at one of them
 * is the relay.
 */
export async function pathOf(pc, relays = new Set()) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId) ?? pair;
  });
  if (!pair) {
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) pair = pair ?? s;
    });
  }
  if (!pair) return null;
  const l = stats.get(pair.localCandidateId);
  const r = stats.get(pair.remoteCandidateId);
  const local = l?.candidateType ?? '';
  let remote = r?.candidateType ?? '';
  if (remote === 'prflx' && r && relays.has(`${String(r.address ?? r.ip).toLowerCase()}:${r.port}`)) remote = 'relay';
  const proto = l?.relayProtocol || l?.protocol || '';
  return { kind: local === 'relay' || remote === 'relay' ? 'relay' : 'direct', local, remote, proto };
}

const CONNECT_TIMEOUT = 30_000;

/**
 * Session is one connected pair as the browser (side b) sees it. It is made
 * by connect. Channels the host opens arrive at onchannel (queued until it
 * is set); ondone fires once, with the error that ended the session (null
 * after close).
 */
export class Session {
  /** @type {{kind: string, local: string, remote: string, proto: string}|null} */
  path = null;
  #pc;
  #pair;
  #queued = [];
  #onchannel = null;
  #done = false;
  #ondone = [];
  #abort = new AbortController();
  /** @type {Set<string>} the host's relay candidates, "ip:port" */
  relays = new Set();
  /** @type {Reconnector|null} restarts after connect; its state is the link's */
  reconnector = null;
  /** onlink(state, info) is told "reconnecting", "up" (info.pause in ms) and "failed". */
  onlink = null;
  /** hold is where every write to a data channel goes: held while the path is (suspected) lost. */
  hold = new SendHold();

  constructor(pc, pair) {
    this.#pc = pc;
    this.#pair = pair;
    pc.ondatachannel = (ev) => {
      const dc = ev.channel;
      dc.binaryType = 'arraybuffer';
      if (dc.label === 'ctl' || !dc.ordered || dc.maxRetransmits !== null || dc.maxPacketLifeTime !== null) {
        dc.close(); // only ordered, reliable channels make a byte stream; ctl is ours
        return;
      }
      if (this.#onchannel) this.#onchannel(dc);
      else if (this.#queued.length < 64) this.#queued.push(hold(dc));
      else dc.close();
    };
  }

  get pc() {
    return this.#pc;
  }

  /** signal is aborted when the session ends. */
  get signal() {
    return this.#abort.signal;
  }

  set onchannel(f) {
    this.#onchannel = f;
    const q = this.#queued;
    this.#queued = [];
    for (const held of q) release(held, f);
  }

  /** ondone(f) calls f(err) once the session ended (at once if it already did). */
  ondone(f) {
    if (this.#done) f(this.err);
    else this.#ondone.push(f);
  }

  /** createChannel opens an ordered, reliable channel to the host. */
  createChannel(label) {
    const dc = this.#pc.createDataChannel(label, { ordered: true });
    dc.binaryType = 'arraybuffer';
    return dc;
  }

  /** maxMessageSize is the largest message the host accepts (RFC 8841), at most 64 KiB here. */
  get maxMessageSize() {
    const m = this.#pc.sctp?.maxMessageSize;
    return Math.min(Number.isFinite(m) && m > 0 ? m : 16 << 10, 64 << 10);
  }

  /** refreshPath reads the selected pair again (ICE may switch pairs, or learn what a candidate was). */
  async refreshPath() {
    if (this.#done) return this.path;
    try {
      this.path = (await pathOf(this.#pc, this.relays)) ?? this.path;
    } catch {
      // closed meanwhile
    }
    return this.path;
  }

  /** finish ends the session with err (null for a local close). */
  finish(err) {
    if (this.#done) return;
    this.#done = true;
    this.err = err;
    this.reconnector?.close();
    this.hold.shut();
    this.#abort.abort();
    try {
      this.#pc.close();
    } catch {
      // already closed
    }
    try {
      this.#pair.close(err ? (err.kind === 'binding' || err.kind === 'tampered' ? 'scary' : 'errory') : 'happy');
    } catch {
      // already closed
    }
    const fs = this.#ondone;
    this.#ondone = [];
    for (const f of fs) f(err);
  }

  /** close ends the session: the peer connection and the mailbox. */
  close() {
    this.finish(null);
  }
}

/**
 * connect answers the host's offer over pair and returns the Session once
 * ICE, DTLS and SCTP are up and the channel binding checked out.
 * @param {object} o
 * @param {import('./pairing.js').Pair} o.pair
 * @param {typeof RTCPeerConnection} o.RTCPeerConnection
 * @param {AbortSignal} [o.signal]
 * @param {EventTarget} [o.window] where "online" and "offline" are reported (window)
 * @param {EventTarget & {type?: string}} [o.connection] navigator.connection, where the browser has it
 * @param {() => boolean} [o.online] navigator.onLine
 * @param {(msg: string) => void} [o.log] how restarts went, for the browser's console
 */
export async function connect(o) {
  const { pair } = o;
  const pc = new o.RTCPeerConnection({ iceServers: pair.iceServers, bundlePolicy: 'max-bundle' });
  const s = new Session(pc, pair);
  const ctl = pc.createDataChannel('ctl', { negotiated: true, id: 0 });
  ctl.binaryType = 'arraybuffer';

  let described = false; // our answer went out: candidates may follow
  const held = [];
  const sendSignal = (sig) => {
    try {
      pair.send(sig);
    } catch {
      // the mailbox is gone; the connection may still come up
    }
  };
  pc.onicecandidate = (ev) => {
    const c = ev.candidate;
    let sig;
    if (!c) sig = { t: 'cand-end' };
    else if (!c.candidate) return; // an end-of-generation marker
    else sig = { t: 'cand', c: c.candidate.replace(/^a=/, ''), mid: c.sdpMid ?? undefined, idx: c.sdpMLineIndex ?? undefined };
    if (described) sendSignal(sig);
    else held.push(sig);
  };

  let fpA = null;
  let remoteSet = false;
  const pending = [];
  // answer applies an offer and sends the answer, then the candidates
  // gathered meanwhile.
  const answer = async (sdp) => {
    await pc.setRemoteDescription({ type: 'offer', sdp });
    remoteSet = true;
    for (const c of pending.splice(0)) addCandidate(c);
    const a = await pc.createAnswer();
    await pc.setLocalDescription(a);
    sendSignal({ t: 'answer', sdp: pc.localDescription.sdp });
    described = true;
    for (const h of held.splice(0)) sendSignal(h);
  };
  const addCandidate = (init) => pc.addIceCandidate(init).catch(() => {}); // one bad line must not end the session

  // Signalling: the offer, then candidates, until the session ends.
  const signalling = (async () => {
    for (;;) {
      let sig;
      try {
        sig = await pair.recv(s.signal);
      } catch (e) {
        if (!s.path) throw e;
        // After connecting the mailbox may expire; the connection stays. But a
        // "bye" (or the host leaving the mailbox) means the host ended it.
        if (e?.kind === 'peer-gone') s.finish(new SessionError('peer-gone', 'the other side left'));
        return;
      }
      switch (sig.t) {
        case 'offer': {
          fpA = checkOffer(sig.sdp, fpA, s.relays);
          // A second offer is an ICE restart (section 5.1): new ICE
          // credentials, the same DTLS certificate. Our new candidates
          // wait for the answer, as at first.
          const restart = remoteSet;
          described = false;
          await answer(sig.sdp);
          if (restart) s.reconnector?.offered();
          break;
        }
        case 'cand': {
          const ra = relayAddress(sig.c);
          if (ra && s.relays.size < 64) s.relays.add(ra);
          const init = { candidate: sig.c, sdpMid: sig.mid ?? null, sdpMLineIndex: sig.idx ?? null };
          if (remoteSet) addCandidate(init);
          else if (pending.length < 256) pending.push(init);
          break;
        }
        case 'cand-end':
          if (remoteSet) pc.addIceCandidate().catch(() => {});
          break;
        case 'answer':
          throw new SessionError('tampered', 'got an answer, expected an offer');
        default:
          break; // hello again, proof: nothing to do for a browser
      }
    }
  })();
  signalling.catch((e) => s.finish(e instanceof SessionError || e?.kind ? e : new SessionError('tampered', String(e?.message ?? e))));

  const failed = new Promise((_, reject) => {
    s.ondone((err) => reject(err ?? new SessionError('closed', 'session closed')));
    pc.onconnectionstatechange = () => {
      if (pc.connectionState !== 'failed') return;
      if (s.reconnector) s.reconnector.lost('failed');
      else s.finish(new SessionError('no-path', 'no connection path to the other side'));
    };
  });
  failed.catch(() => {});

  const timeout = setTimeout(() => s.finish(new SessionError('no-path', 'no connection within 30 s')), CONNECT_TIMEOUT);
  const stop = () => s.finish(new SessionError('closed', 'aborted'));
  o.signal?.addEventListener('abort', stop, { once: true });
  try {
    // Channel binding: once ctl is open, our proof first, then check the host's.
    // The host sends its proof as soon as ctl opens on its side, so listen first.
    const proof = new Promise((resolve) => (ctl.onmessage = (ev) => resolve(ev.data)));
    await Promise.race([new Promise((resolve) => (ctl.onopen = resolve)), failed]);
    let fpB = pc.localDescription ? sdpFingerprint(pc.localDescription.sdp) : null;
    if (!fpB) {
      for (const c of pc.getConfiguration().certificates ?? []) {
        const f = c.getFingerprints?.().find((x) => x.algorithm === 'sha-256');
        if (f) fpB = fromHex(f.value.replaceAll(':', ''));
      }
    }
    if (!fpA || !fpB) throw new SessionError('binding', 'no DTLS fingerprints to bind to');
    ctl.send(bindingProof(pair.keys.kbind, 'b', fpA, fpB));
    const got = await Promise.race([proof, failed]);
    const want = bindingProof(pair.keys.kbind, 'a', fpA, fpB);
    if (!(got instanceof ArrayBuffer) || !equal(new Uint8Array(got), want)) {
      throw new SessionError('binding', 'the channel binding failed: someone is in the middle');
    }
    // The ctl channel lives as long as the SCTP association: when the host
    // closes the connection, it closes.
    ctl.onclose = () => s.finish(new SessionError('peer-gone', 'the connection closed'));
    s.path = (await pathOf(pc, s.relays)) ?? { kind: 'direct', local: '', remote: '', proto: '' };
    watch(s, pc, pair, o, ctl);
    return s;
  } catch (e) {
    s.finish(e);
    throw e;
  } finally {
    clearTimeout(timeout);
    o.signal?.removeEventListener('abort', stop);
  }
}

/**
 * checkOffer checks an offer's DTLS fingerprint against the first offer's
 * (a restart keeps the certificate: a new one would be someone else), notes
 * the host's relay addresses, and returns the fingerprint.
 */
function checkOffer(sdp, fpA, relays) {
  const fp = sdpFingerprint(sdp);
  if (!fp) throw new SessionError('tampered', 'the offer has no SHA-256 DTLS fingerprint');
  if (fpA && !equal(fp, fpA)) throw new SessionError('tampered', 'a restart offer with another DTLS certificate');
  for (const line of sdp.split(/\r?\n/)) {
    const ra = line.startsWith('a=candidate:') ? relayAddress(line) : null;
    if (ra && relays.size < 64) relays.add(ra);
  }
  return fp;
}

/**
 * watch starts restarting after connect: ICE and the browser report a lost
 * path or a changed network (o.window: online/offline events, o.connection:
 * navigator.connection), and the Reconnector re-opens the mailbox and asks
 * the host for a restart.
 */
function watch(s, pc, pair, o, ctl) {
  let counts = new Map(); // bytes received by candidate pair, at the last poll
  let gen = 0; // episodes begun: a poll that straddles one proves nothing
  let heard = Date.now(); // when data last arrived
  const win = o.window ?? null;
  const conn = o.connection ?? null;
  const rc = new Reconnector({
    reopen: () => pair.reopen(),
    mailboxUp: () => pair.mailboxUp,
    ask: () => {
      try {
        pair.send({ t: 'restart' });
      } catch {
        // the mailbox is gone: the path may still come back by itself
      }
    },
    online: () => o.online?.() ?? true,
    log: o.log,
    onstate: (state, info) => {
      // Data in flight when the path went proves nothing: what counts
      // arrives after this report.
      if (state === 'reconnecting') {
        counts = new Map();
        gen++;
        holdSends('reconnecting');
      }
      if (state === 'up') releaseSends();
      if (state === 'failed') {
        s.finish(new SessionError('no-path', 'the connection was lost and could not be restored'));
        return;
      }
      s.onlink?.(state, info);
    },
  });
  // Sends wait while the path is lost, and already while it is suspect:
  // Firefox fails DTLS when a send fails at the socket (hold.js).
  let heldAt = 0;
  const holdSends = (why) => {
    if (!s.hold.held) {
      heldAt = Date.now();
      o.log?.(`holding sends (${why})`);
    }
    s.hold.hold(why);
  };
  const releaseSends = () => {
    if (!s.hold.held) return;
    const why = s.hold.why;
    const n = s.hold.release();
    o.log?.(`sends go on after ${Date.now() - heldAt} ms (${why}), ${n} held`);
  };
  const alive = () => {
    heard = Date.now();
    if (o.online?.() ?? true) rc.up();
    if (rc.state === 'up') releaseSends();
  };
  // The host's heartbeat on ctl (one byte a second, section 5.1) says that
  // it restarts ICE when asked, and that the path carries data. A host that
  // sends none does not restart: then a failed path ends the session, as
  // before.
  ctl.onmessage = () => {
    if (!s.reconnector) {
      s.reconnector = rc;
      o.log?.('the host restarts ICE when asked');
    }
    alive();
  };
  pc.oniceconnectionstatechange = () => {
    const st = pc.iceConnectionState;
    o.log?.(`ICE ${st}`);
    if (!s.reconnector) return;
    if (st === 'disconnected' || st === 'failed') rc.lost(`ice-${st}`);
  };
  // A silent loss: no heartbeat and no other data from the host any more
  // (Chromium's ICE may stay "connected" for many seconds, and its checks
  // may still pass). The way back: data arrives again, on the old pair or
  // a new one. During a long transfer the heartbeat may wait behind file
  // data, so the bytes on the selected pair count too.
  let polling = false;
  const poll = setInterval(async () => {
    if (polling || !s.reconnector) return;
    polling = true;
    const g = gen;
    try {
      const r = pairActivity((await pc.getStats()).values(), counts);
      if (g !== gen) return;
      counts = r.counts;
      if (r.active) alive();
      else if (Date.now() - heard > SILENT) rc.lost('silent');
      else if (Date.now() - heard > SUSPECT) holdSends('suspect');
    } catch {
      // closed meanwhile
    } finally {
      polling = false;
    }
  }, POLL);
  const lost = (why) => s.reconnector && rc.lost(why);
  const offline = () => lost('offline');
  // Online again while data flows: the path in use works, a restart would
  // only interrupt it.
  const online = () => s.reconnector && !(rc.state === 'up' && Date.now() - heard < 2 * POLL + 1000) && rc.network('online');
  let type = conn?.type;
  const change = () => {
    // Estimates (downlink, rtt) change all the time; only a new kind of
    // connection (where the browser tells it) is a new network.
    if (conn.type === type) return;
    type = conn.type;
    if (s.reconnector) rc.network('connection-change');
  };
  win?.addEventListener('offline', offline);
  win?.addEventListener('online', online);
  conn?.addEventListener?.('change', change);
  s.ondone(() => {
    clearInterval(poll);
    win?.removeEventListener('offline', offline);
    win?.removeEventListener('online', online);
    conn?.removeEventListener?.('change', change);
  });
}

// A channel that arrives before anyone listens keeps what it receives: a
// message event nobody handles is lost, and the host writes the moment the
// channel is open.
function hold(dc) {
  const held = { dc, msgs: [], closed: false };
  dc.onmessage = (ev) => held.msgs.push(ev.data);
  dc.onclose = () => (held.closed = true);
  return held;
}

/** release hands a held channel to f, then replays what arrived meanwhile. */
function release(held, f) {
  const { dc } = held;
  dc.onmessage = null;
  dc.onclose = null;
  f(dc);
  for (const data of held.msgs) dc.dispatchEvent(new MessageEvent('message', { data }));
  if (held.closed) dc.dispatchEvent(new Event('close'));
}
