// The WebRTC side of a session (docs/protocol.md, sections 5 and 6), as
// internal/session does it for role b: the host (side a) sends the offer;
// the answer and trickle candidates go back as sealed signals; the
// negotiated "ctl" channel (id 0) carries the channel-binding proofs: ours
// first, then the host's is checked. Only then is the session connected.
// Afterwards a lost path is brought back by an ICE restart (restart.js):
// the host sends a new offer, which is answered like the first.

import { equal, fromHex, toHex } from './bytes.js';
import { SendHold } from './hold.js';
import { GIVE_UP, pairActivity, POLL, Reconnector, SILENT, SUSPECT } from './restart.js';
import { tuneSender, videoTransceiver } from './screen.js';
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
/** REBUILD_ATTEMPT bounds one attempt at a new connection: the host's offer after our request, then ICE, DTLS and the binding. */
export const REBUILD_ATTEMPT = 20_000;

/**
 * Session is one connected pair as the browser (side b) sees it. It is made
 * by connect. Channels the host opens arrive at onchannel (queued until it
 * is set); ondone fires once, with the error that ended the session (null
 * after close).
 *
 * A session outlives its RTCPeerConnection where the host allows it (its
 * heartbeat is 0x01): when the connection's DTLS transport fails (Firefox
 * fails it when a send fails because the network is gone) the session
 * builds a new one over the same pairing (docs/protocol.md, section 5.2),
 * and the host's channels arrive at onchannel again.
 */
export class Session {
  /** @type {{kind: string, local: string, remote: string, proto: string}|null} */
  path = null;
  #pc;
  #pair;
  #o;
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
  /** rebuilds says whether the host builds a new connection when asked (its heartbeat is 0x01). */
  rebuilds = false;
  /** wanted() says whether the connection is still wanted (the consultation sets it): no rebuild after the end. */
  wanted = () => true;
  /** generation counts the connections: 0 for the first. */
  generation = 0;
  /** @type {Link|null} */
  link = null;
  /** @type {Set<string>} every DTLS fingerprint of the host seen so far (hex): a stale offer has one of them */
  fingerprints = new Set();
  #rebuilding = null; // the running rebuild, a Promise
  #offerWaiter = null; // resolves with the SDP of a new connection's offer
  /** @type {MediaStreamTrack|null} the incoming track of the connection's video transceiver (docs/screen.md) */
  video = null;
  #onvideo = null;
  #share = null; // the track we share, kept across a rebuilt connection

  constructor(pair, o = {}) {
    this.#pair = pair;
    this.#o = o;
  }

  /** use makes l the session's connection. */
  use(l) {
    this.link = l;
    this.#pc = l.pc;
  }

  get pc() {
    return this.#pc;
  }

  get pair() {
    return this.#pair;
  }

  /**
   * onvideo(track) is told the incoming track of each connection whose
   * offer has a video section (the host offers one when both hellos say
   * "screen"), and null for one without: again after a rebuilt connection.
   * Set late, it is told the current one at once.
   */
  set onvideo(f) {
    this.#onvideo = f;
    if (f && this.video) f(this.video);
  }

  get onvideo() {
    return this.#onvideo;
  }

  /** videoArrived is a connection's report of its video track (null: none). */
  videoArrived(track) {
    this.video = track;
    this.#onvideo?.(track);
  }

  /** canShare says whether the current connection has a video transceiver to share on. */
  get canShare() {
    return Boolean(this.link?.video);
  }

  /** shareTrack is the track we share, or null. */
  get shareTrack() {
    return this.#share;
  }

  /**
   * setShareTrack shares track (null: nothing) on the video transceiver's
   * sender with replaceTrack, without a new offer; a rebuilt connection
   * takes it over. It resolves to whether a connection took it now.
   */
  async setShareTrack(track) {
    this.#share = track ?? null;
    const tx = this.link?.video;
    if (!tx) return false;
    await tx.sender.replaceTrack(this.#share);
    if (this.#share) await tuneSender(tx.sender);
    return true;
  }

  /** signal is aborted when the session ends. */
  get signal() {
    return this.#abort.signal;
  }

  get done() {
    return this.#done;
  }

  /** rebuilding says whether a new connection is being built. */
  get rebuilding() {
    return this.#rebuilding !== null;
  }

  set onchannel(f) {
    this.#onchannel = f;
    const q = this.#queued;
    this.#queued = [];
    for (const held of q) release(held, f);
  }

  /** incoming takes a channel the host opened on the current connection. */
  incoming(dc) {
    dc.binaryType = 'arraybuffer';
    if (dc.label === 'ctl' || !dc.ordered || dc.maxRetransmits !== null || dc.maxPacketLifeTime !== null) {
      dc.close(); // only ordered, reliable channels make a byte stream; ctl is ours
      return;
    }
    if (this.#onchannel) this.#onchannel(dc);
    else if (this.#queued.length < 64) this.#queued.push(hold(dc));
    else dc.close();
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

  /**
   * lost reports that the connection is dead for good (DTLS or SCTP
   * failed, a channel closed without an "end"): the session builds a new
   * one where the host allows it, and ends otherwise.
   */
  lost(why, err = new SessionError('peer-gone', 'the connection closed')) {
    if (this.#done || this.#rebuilding) return;
    if (!this.rebuilds || !this.wanted()) {
      this.finish(err);
      return;
    }
    const since = this.reconnector?.state === 'reconnecting' ? this.reconnector.since : Date.now();
    this.#rebuilding = this.#rebuild(why, since).finally(() => (this.#rebuilding = null));
  }

  /** offerArrived hands the signalling's offer to a rebuild that waits for it; it says whether one took it. */
  offerArrived(sdp, fp) {
    if (!this.#offerWaiter || this.fingerprints.has(toHex(fp))) return false;
    this.#offerWaiter(sdp);
    return true;
  }

  // waitOffer waits for the new connection's offer; the Link is made and
  // used at once, so that the candidates after the offer reach it.
  #waitOffer(ms) {
    return new Promise((resolve) => {
      const w = (sdp) => {
        clearTimeout(t);
        if (this.#offerWaiter === w) this.#offerWaiter = null;
        if (!sdp) return resolve(null);
        const l = new Link(this, this.#o);
        this.use(l);
        resolve({ sdp, l });
      };
      const t = setTimeout(() => w(null), Math.max(0, ms));
      this.#offerWaiter = w;
    });
  }

  async #rebuild(why, since) {
    const o = this.#o;
    const log = o.log ?? (() => {});
    log(`the connection is dead (${why}): building a new one`);
    this.hold.hold('rebuilding');
    this.onlink?.('reconnecting', { why: `rebuild: ${why}` });
    const old = this.link;
    this.link = null;
    old?.close();
    const deadline = since + GIVE_UP;
    let attempt = 0;
    while (!this.#done && Date.now() < deadline) {
      attempt++;
      // A fresh mailbox connection: the old one may have died with the
      // network (a browser cannot ping it), and the request must get
      // through.
      if (attempt > 1) await new Promise((r) => setTimeout(r, 500));
      try {
        await this.#pair.reopen();
      } catch (e) {
        log(`mailbox not re-opened: ${e?.message ?? e}`);
        if (!this.#pair.reopenable) break;
        continue;
      }
      if (this.#done) return;
      const offer = this.#waitOffer(Math.min(REBUILD_ATTEMPT, deadline - Date.now()));
      try {
        this.#pair.send({ t: 'reconnect' });
      } catch {
        this.#offerWaiter?.(null);
        await offer;
        continue;
      }
      log(`asked for a new connection (${attempt})`);
      const got = await offer;
      if (this.#done) return got?.l.close();
      if (!got) continue;
      const { sdp, l } = got;
      try {
        await l.establish(sdp, Math.min(REBUILD_ATTEMPT, deadline - Date.now()));
      } catch (e) {
        l.close();
        this.link = null;
        if (this.#done) return;
        if (e?.kind === 'binding' || e?.kind === 'tampered') return this.finish(e);
        log(`new connection failed: ${e?.message ?? e}`);
        continue;
      }
      if (this.#done) return l.close();
      this.generation++;
      this.path = (await pathOf(l.pc, this.relays).catch(() => null)) ?? this.path;
      watch(this, l, o);
      log(`new connection up (${this.generation})`);
      this.hold.release();
      this.onlink?.('up', { pause: Date.now() - since, rebuilt: true });
      return;
    }
    if (!this.#done) this.finish(new SessionError('no-path', 'the connection was lost and could not be restored'));
  }

  /** finish ends the session with err (null for a local close). */
  finish(err) {
    if (this.#done) return;
    this.#done = true;
    this.err = err;
    this.reconnector?.close();
    this.hold.shut();
    this.#abort.abort();
    this.#offerWaiter?.(null);
    this.link?.close();
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
 * Link is one RTCPeerConnection of a session: it answers the host's offer,
 * trickles candidates and does the channel binding on its own ctl channel.
 */
class Link {
  /** fpA is the host's DTLS fingerprint in this connection's offer. */
  fpA = null;
  /** @type {RTCRtpTransceiver|null} the video transceiver of the host's offer */
  video = null;
  #s;
  #o;
  #described = false; // our answer went out: candidates may follow
  #held = [];
  #remoteSet = false;
  #pending = [];
  #closed = false;
  #onfail = [];

  constructor(s, o) {
    this.#s = s;
    this.#o = o;
    const pc = new o.RTCPeerConnection({ iceServers: s.pair.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    this.ctl = pc.createDataChannel('ctl', { negotiated: true, id: 0 });
    this.ctl.binaryType = 'arraybuffer';
    pc.ondatachannel = (ev) => {
      if (!this.#closed && s.link === this) s.incoming(ev.channel);
      else ev.channel.close();
    };
    pc.onicecandidate = (ev) => {
      if (this.#closed) return;
      const c = ev.candidate;
      let sig;
      if (!c) sig = { t: 'cand-end' };
      else if (!c.candidate) return; // an end-of-generation marker
      else sig = { t: 'cand', c: c.candidate.replace(/^a=/, ''), mid: c.sdpMid ?? undefined, idx: c.sdpMLineIndex ?? undefined };
      if (this.#described) this.#send(sig);
      else this.#held.push(sig);
    };
  }

  #send(sig) {
    try {
      this.#s.pair.send(sig);
    } catch {
      // the mailbox is gone; the connection may still come up
    }
  }

  /** onfail(f) calls f(err) when this connection fails before it is bound. */
  onfail(f) {
    this.#onfail.push(f);
  }

  failed(err) {
    for (const f of this.#onfail.splice(0)) f(err);
  }

  /** answer applies an offer and sends the answer, then the candidates gathered meanwhile. */
  async answer(sdp) {
    const restart = this.#remoteSet;
    this.fpA = checkOffer(sdp, this.fpA, this.#s.relays);
    this.#s.fingerprints.add(toHex(this.fpA));
    this.#described = false;
    const pc = this.pc;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    this.#remoteSet = true;
    for (const c of this.#pending.splice(0)) this.candidate(c);
    // A video section (docs/screen.md): we view on it and share back on
    // it, so it is sendrecv on our side too; a share running when the
    // connection was rebuilt goes on on the new one.
    const tx = videoTransceiver(pc, sdp);
    const fresh = tx !== null && tx !== this.video;
    const share = this.#s.shareTrack;
    if (fresh) {
      this.video = tx;
      try {
        tx.direction = 'sendrecv';
      } catch {
        // a browser that cannot send video still views
      }
      if (share) await tx.sender.replaceTrack(share).catch(() => {});
    }
    const a = await pc.createAnswer();
    await pc.setLocalDescription(a);
    this.#send({ t: 'answer', sdp: pc.localDescription.sdp });
    this.#described = true;
    for (const h of this.#held.splice(0)) this.#send(h);
    if (fresh) {
      if (share) tuneSender(tx.sender);
      if (this.#s.link === this) this.#s.videoArrived(tx.receiver.track);
    } else if (!restart && !tx && this.#s.link === this) {
      this.#s.videoArrived(null);
    }
    return restart;
  }

  candidate(init) {
    if (!this.#remoteSet) {
      if (this.#pending.length < 256) this.#pending.push(init);
      return;
    }
    this.pc.addIceCandidate(init).catch(() => {}); // one bad line must not end the session
  }

  candEnd() {
    if (this.#remoteSet) this.pc.addIceCandidate().catch(() => {});
  }

  /**
   * establish answers offer sdp and returns once ICE, DTLS and SCTP are up
   * and the channel binding checked out (section 6), within ms.
   */
  async establish(sdp, ms) {
    const pc = this.pc;
    const ctl = this.ctl;
    const failed = new Promise((_, reject) => {
      this.onfail(reject);
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') this.failed(new SessionError('no-path', 'no connection path to the other side'));
      };
    });
    failed.catch(() => {});
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new SessionError('no-path', `no connection within ${Math.round(ms / 1000)} s`)), ms);
    });
    timeout.catch(() => {});
    try {
      // The host sends its proof as soon as ctl opens on its side, so listen first.
      const proof = new Promise((resolve) => (ctl.onmessage = (ev) => resolve(ev.data)));
      const opened = new Promise((resolve) => (ctl.onopen = resolve));
      await Promise.race([this.answer(sdp), failed, timeout]);
      await Promise.race([opened, failed, timeout]);
      let fpB = pc.localDescription ? sdpFingerprint(pc.localDescription.sdp) : null;
      if (!fpB) {
        for (const c of pc.getConfiguration().certificates ?? []) {
          const f = c.getFingerprints?.().find((x) => x.algorithm === 'sha-256');
          if (f) fpB = fromHex(f.value.replaceAll(':', ''));
        }
      }
      const fpA = this.fpA;
      if (!fpA || !fpB) throw new SessionError('binding', 'no DTLS fingerprints to bind to');
      const kbind = this.#s.pair.keys.kbind;
      ctl.send(bindingProof(kbind, 'b', fpA, fpB));
      const got = await Promise.race([proof, failed, timeout]);
      const want = bindingProof(kbind, 'a', fpA, fpB);
      if (!(got instanceof ArrayBuffer) || !equal(new Uint8Array(got), want)) {
        throw new SessionError('binding', 'the channel binding failed: someone is in the middle');
      }
    } finally {
      clearTimeout(timer);
    }
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.failed(new SessionError('closed', 'connection replaced'));
    const pc = this.pc;
    pc.onconnectionstatechange = pc.oniceconnectionstatechange = pc.ondatachannel = pc.onicecandidate = null;
    this.ctl.onclose = this.ctl.onmessage = null;
    if (pc.sctp) pc.sctp.onstatechange = null;
    this.stopWatch?.();
    try {
      pc.close();
    } catch {
      // already closed
    }
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
  const s = new Session(pair, o);
  const first = new Link(s, o);
  s.use(first);
  let firstOffer;
  const offered = new Promise((resolve) => (firstOffer = resolve));
  let gotFirst = false;

  // Signalling: offers and candidates, until the session ends. An offer
  // with a DTLS fingerprint seen before belongs to a connection we know:
  // the first offer, or an ICE restart of the connection in use (section
  // 5.1). One with a new fingerprint is the host's new connection after
  // our "reconnect" (section 5.2), and only then welcome.
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
      const l = s.link;
      switch (sig.t) {
        case 'offer': {
          if (!gotFirst) {
            gotFirst = true;
            firstOffer(sig.sdp);
            break;
          }
          const fp = sdpFingerprint(sig.sdp);
          if (!fp) throw new SessionError('tampered', 'the offer has no SHA-256 DTLS fingerprint');
          if (s.rebuilding) {
            s.offerArrived(sig.sdp, fp); // a stale one is dropped
            break;
          }
          // A restart (section 5.1): new ICE credentials, the same DTLS
          // certificate. Our new candidates wait for the answer, as at
          // first.
          if (!l || !l.fpA || !equal(fp, l.fpA)) {
            if (s.fingerprints.has(toHex(fp))) break; // an old connection's
            throw new SessionError('tampered', 'a restart offer with another DTLS certificate');
          }
          await l.answer(sig.sdp);
          s.reconnector?.offered();
          break;
        }
        case 'cand': {
          const ra = relayAddress(sig.c);
          if (ra && s.relays.size < 64) s.relays.add(ra);
          l?.candidate({ candidate: sig.c, sdpMid: sig.mid ?? null, sdpMLineIndex: sig.idx ?? null });
          break;
        }
        case 'cand-end':
          l?.candEnd();
          break;
        case 'answer':
          throw new SessionError('tampered', 'got an answer, expected an offer');
        default:
          break; // hello again, proof, bye: nothing to do for a browser
      }
    }
  })();
  signalling.catch((e) => s.finish(e instanceof SessionError || e?.kind ? e : new SessionError('tampered', String(e?.message ?? e))));

  const ended = new Promise((_, reject) => s.ondone((err) => reject(err ?? new SessionError('closed', 'session closed'))));
  ended.catch(() => {});
  const stop = () => s.finish(new SessionError('closed', 'aborted'));
  o.signal?.addEventListener('abort', stop, { once: true });
  const t0 = Date.now();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new SessionError('no-path', 'no connection within 30 s')), CONNECT_TIMEOUT);
  });
  timeout.catch(() => {});
  try {
    const sdp = await Promise.race([offered, ended, timeout]);
    await Promise.race([first.establish(sdp, Math.max(0, CONNECT_TIMEOUT - (Date.now() - t0))), ended]);
    s.path = (await pathOf(first.pc, s.relays)) ?? { kind: 'direct', local: '', remote: '', proto: '' };
    watch(s, first, o);
    return s;
  } catch (e) {
    s.finish(e);
    throw e;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', stop);
  }
}

/**
 * checkOffer checks an offer's DTLS fingerprint against the connection's
 * first offer (a restart keeps the certificate: a new one would be someone
 * else), notes the host's relay addresses, and returns the fingerprint.
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
 * watch starts restarting after connect, for connection l: ICE and the
 * browser report a lost path or a changed network (o.window: online/offline
 * events, o.connection: navigator.connection), and the Reconnector re-opens
 * the mailbox and asks the host for a restart. A connection whose DTLS or
 * SCTP died cannot be restarted: the session builds a new one (s.lost).
 */
function watch(s, l, o) {
  const { pc, ctl } = l;
  const pair = s.pair;
  let counts = new Map(); // bytes received by candidate pair, at the last poll
  let gen = 0; // episodes begun: a poll that straddles one proves nothing
  let heard = Date.now(); // when data last arrived
  const win = o.window ?? null;
  const conn = o.connection ?? null;
  s.reconnector?.close();
  s.reconnector = null;
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
    if (!s.hold.held || s.rebuilding) return;
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
  // it restarts ICE when asked, and that the path carries data; 0x01 says
  // that it also builds a new connection when asked (section 5.2). A host
  // that sends none does not restart: then a failed path ends the
  // session, as before.
  ctl.onmessage = (ev) => {
    if (s.reconnector !== rc) {
      s.reconnector = rc;
      s.rebuilds = ev.data instanceof ArrayBuffer && new Uint8Array(ev.data)[0] === 1;
      o.log?.(s.rebuilds ? 'the host restarts ICE when asked, and builds a new connection when asked' : 'the host restarts ICE when asked');
    }
    alive();
  };
  // The ctl channel lives as long as the SCTP association: when it closes,
  // the host closed the connection, or our DTLS failed.
  ctl.onclose = () => s.lost('ctl closed');
  // DTLS and SCTP do not come back by an ICE restart.
  const dead = () => {
    const dtls = pc.sctp?.transport?.state;
    return pc.sctp?.state === 'closed' || dtls === 'failed' || dtls === 'closed';
  };
  pc.onconnectionstatechange = () => {
    const st = pc.connectionState;
    o.log?.(`connection ${st}`);
    if (st === 'closed' || (st === 'failed' && dead())) s.lost(`connection ${st}`);
    else if (st === 'failed') {
      if (s.reconnector) rc.lost('failed');
      else s.finish(new SessionError('no-path', 'no connection path to the other side'));
    }
  };
  if (pc.sctp) {
    pc.sctp.onstatechange = () => {
      if (pc.sctp.state === 'closed') s.lost('sctp closed');
    };
  }
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
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    rc.close();
    if (s.reconnector === rc) s.reconnector = null;
    clearInterval(poll);
    win?.removeEventListener('offline', offline);
    win?.removeEventListener('online', online);
    conn?.removeEventListener?.('change', change);
  };
  l.stopWatch = stop;
  s.ondone(stop);
  // A new connection to a host that rebuilds: it heartbeats, so a silence
  // counts from now on, before its first heartbeat arrives (the path may
  // go again at once).
  if (s.rebuilds) s.reconnector = rc;
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
