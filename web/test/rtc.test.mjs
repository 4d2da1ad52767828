// The page's session over fakes of RTCPeerConnection and the pairing: the
// first connection, and a new one when the old one's DTLS died
// (docs/protocol.md, section 5.2).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, SessionError } from '../src/rtc.js';
import { bindingProof } from '../src/wire.js';
import { toHex } from '../src/bytes.js';

const kbind = new Uint8Array(32).fill(9);
const fp = (n) => new Uint8Array(32).fill(n);
const colons = (b) => [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(':');
const offer = (n) => `v=0\r\na=fingerprint:sha-256 ${colons(fp(n))}\r\na=ice-ufrag:u${n}\r\n`;
const tick = () => new Promise((r) => setTimeout(r, 0));

async function until(cond, what) {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

class FakeChannel {
  constructor(label) {
    this.label = label;
    this.readyState = 'connecting';
    this.sent = [];
    this.ordered = true;
    this.maxRetransmits = null;
    this.maxPacketLifeTime = null;
  }
  send(b) {
    this.sent.push(b);
  }
  close() {
    this.readyState = 'closed';
  }
  open() {
    this.readyState = 'open';
    this.onopen?.();
  }
  message(data) {
    this.onmessage?.({ data });
  }
}

// FakeTransceiver is a video transceiver as setRemoteDescription makes it.
class FakeTransceiver {
  constructor(mid, n) {
    this.mid = mid;
    this.stopped = false;
    this.direction = 'recvonly';
    this.receiver = { track: { kind: 'video', id: `incoming-${n}` } };
    this.sender = {
      track: null,
      negotiated: false,
      params: null,
      async replaceTrack(t) {
        this.track = t;
      },
      getParameters() {
        return { transactionId: 'x', encodings: this.negotiated ? [{}] : [] };
      },
      async setParameters(p) {
        this.params = p;
      },
    };
  }
}

// FakePC is the part of RTCPeerConnection rtc.js uses; every instance is kept.
class FakePC {
  static all = [];
  constructor(cfg) {
    this.cfg = cfg;
    this.n = FakePC.all.length + 1;
    this.fpB = fp(100 + this.n);
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.sctp = { state: 'connected', maxMessageSize: 65536, transport: { state: 'connected' } };
    this.localDescription = null;
    this.remote = null;
    this.closed = false;
    this.candidates = [];
    FakePC.all.push(this);
  }
  createDataChannel(label) {
    const dc = new FakeChannel(label);
    if (label === 'ctl') this.ctl = dc;
    return dc;
  }
  async setRemoteDescription(d) {
    this.remote = d;
    // A video section makes a transceiver (recvonly, as a browser's
    // answerer does), once per connection.
    if (d.sdp.includes('m=video 9') && !this.tx) this.tx = new FakeTransceiver('1', this.n);
  }
  getTransceivers() {
    return this.tx ? [this.tx] : [];
  }
  async createAnswer() {
    // What the answer would say: the transceiver's direction and track now.
    this.answered = this.tx ? { direction: this.tx.direction, track: this.tx.sender.track } : null;
    return { type: 'answer', sdp: `v=0\r\na=fingerprint:sha-256 ${colons(this.fpB)}\r\n` };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    if (this.tx) this.tx.sender.negotiated = true;
  }
  async addIceCandidate(c) {
    this.candidates.push(c);
  }
  getConfiguration() {
    return {};
  }
  async getStats() {
    return new Map();
  }
  close() {
    this.closed = true;
    this.connectionState = 'closed';
  }
  // bind plays the host's side of the channel binding on this connection.
  bind(fpA) {
    this.ctl.open();
    this.ctl.message(bindingProof(kbind, 'a', fpA, this.fpB).slice().buffer);
  }
}

// FakePair is the sealed signalling of side b.
class FakePair {
  iceServers = [];
  keys = { kbind };
  sent = [];
  reopens = 0;
  reopenable = true;
  mailboxUp = true;
  closed = null;
  #in = [];
  #wake = null;
  send(sig) {
    this.sent.push(sig);
  }
  deliver(sig) {
    this.#in.push(sig);
    this.#wake?.();
  }
  async recv(signal) {
    while (!this.#in.length) {
      if (signal?.aborted) throw Object.assign(new Error('closed'), { kind: 'closed' });
      await new Promise((r) => {
        this.#wake = r;
        signal?.addEventListener('abort', r, { once: true });
      });
    }
    return this.#in.shift();
  }
  async reopen() {
    this.reopens++;
  }
  close(mood) {
    this.closed = mood;
  }
}

async function connected(pair) {
  FakePC.all = [];
  const logs = [];
  const p = connect({ pair, RTCPeerConnection: FakePC, log: (m) => logs.push(m) });
  pair.deliver({ t: 'offer', sdp: offer(1) });
  await until(() => FakePC.all[0]?.localDescription, 'the answer');
  FakePC.all[0].bind(fp(1));
  const s = await p;
  return { s, logs };
}

test('rtc: a dead connection is replaced by a new one when the host rebuilds', async () => {
  const pair = new FakePair();
  const { s, logs } = await connected(pair);
  const pc1 = FakePC.all[0];
  assert.equal(pair.sent[0].t, 'answer');
  const links = [];
  s.onlink = (state, info) => links.push([state, info.rebuilt ?? false]);
  const channels = [];
  s.onchannel = (dc) => channels.push(dc.label);
  // The host's heartbeat 0x01: it builds a new connection when asked.
  pc1.ctl.message(Uint8Array.of(1).buffer);
  assert.ok(s.rebuilds);
  // Firefox's DTLS failed: SCTP and ctl closed with it.
  pc1.sctp.state = 'closed';
  pc1.ctl.onclose();
  await until(() => pair.sent.some((x) => x.t === 'reconnect'), 'the reconnect request');
  assert.ok(pc1.closed, 'the old connection is closed');
  assert.equal(pair.reopens, 1, 'over a re-opened mailbox');
  assert.ok(s.hold.held, 'sends wait meanwhile');
  // An offer of the old connection (a late ICE restart) is no new one.
  pair.deliver({ t: 'offer', sdp: offer(1) });
  pair.deliver({ t: 'cand', c: 'candidate:1 1 udp 1 192.0.2.1 1000 typ host' });
  await tick();
  assert.equal(FakePC.all.length, 1);
  // The new connection's offer, with a new certificate, and its candidate.
  pair.deliver({ t: 'offer', sdp: offer(2) });
  pair.deliver({ t: 'cand', c: 'candidate:2 1 udp 1 192.0.2.2 2000 typ host' });
  await until(() => FakePC.all[1]?.localDescription, 'the new answer');
  const pc2 = FakePC.all[1];
  assert.equal(pc2.remote.sdp, offer(2));
  assert.equal(pair.sent.filter((x) => x.t === 'answer').length, 2);
  await until(() => pc2.candidates.length, 'the candidate');
  assert.match(pc2.candidates[0].candidate, /192\.0\.2\.2/);
  // The binding over the new fingerprints.
  pc2.bind(fp(2));
  await until(() => links.some(([st]) => st === 'up'), 'the new connection');
  assert.deepEqual(links.at(-1), ['up', true]);
  assert.equal(s.generation, 1);
  assert.equal(s.pc, pc2);
  assert.ok(!s.hold.held);
  const proof = pc2.ctl.sent[0];
  assert.equal(toHex(proof), toHex(bindingProof(kbind, 'b', fp(2), pc2.fpB)));
  // The host's channels on the new connection reach the consultation.
  const dc = new FakeChannel('consult');
  pc2.ondatachannel({ channel: dc });
  assert.deepEqual(channels, ['consult']);
  assert.ok(logs.some((l) => l.includes('new connection up')));
  s.close();
  assert.equal(pair.closed, 'happy');
});

test('rtc: a wrong binding on the new connection ends the session', async () => {
  const pair = new FakePair();
  const { s } = await connected(pair);
  const pc1 = FakePC.all[0];
  pc1.ctl.message(Uint8Array.of(1).buffer);
  let ended = null;
  s.ondone((err) => (ended = err));
  pc1.ctl.onclose();
  await until(() => pair.sent.some((x) => x.t === 'reconnect'), 'the reconnect request');
  pair.deliver({ t: 'offer', sdp: offer(3) });
  await until(() => FakePC.all[1]?.localDescription, 'the new answer');
  FakePC.all[1].bind(fp(4)); // a proof over other fingerprints
  await until(() => ended, 'the end');
  assert.ok(ended instanceof SessionError);
  assert.equal(ended.kind, 'binding');
});

test('rtc: a host that does not rebuild: a dead connection ends the session', async () => {
  const pair = new FakePair();
  const { s } = await connected(pair);
  const pc1 = FakePC.all[0];
  pc1.ctl.message(Uint8Array.of(0).buffer); // restarts ICE only
  assert.ok(!s.rebuilds);
  let ended = null;
  s.ondone((err) => (ended = err));
  pc1.ctl.onclose();
  assert.equal(ended?.kind, 'peer-gone');
  assert.ok(!pair.sent.some((x) => x.t === 'reconnect'));
});

const withVideo = (sdp) => `${sdp}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n`;

test('rtc: a video section is answered sendrecv, its track shown, a share kept across a new connection', async () => {
  const pair = new FakePair();
  FakePC.all = [];
  const p = connect({ pair, RTCPeerConnection: FakePC });
  pair.deliver({ t: 'offer', sdp: withVideo(offer(1)) });
  await until(() => FakePC.all[0]?.localDescription, 'the answer');
  const pc1 = FakePC.all[0];
  assert.deepEqual(pc1.answered, { direction: 'sendrecv', track: null }, 'sendrecv before createAnswer');
  pc1.bind(fp(1));
  const s = await p;
  const shown = [];
  s.onvideo = (track) => shown.push(track?.id ?? null);
  assert.deepEqual(shown, ['incoming-1'], 'a late listener is told the current track');
  assert.ok(s.canShare);

  // Sharing: replaceTrack on the same transceiver, no new offer, and the
  // sender's knobs.
  const share = { kind: 'video', id: 'capture' };
  assert.equal(await s.setShareTrack(share), true);
  assert.equal(pc1.tx.sender.track, share);
  assert.equal(pc1.tx.sender.params.encodings[0].maxFramerate, 15);
  assert.equal(pc1.tx.sender.params.degradationPreference, 'maintain-resolution');
  assert.equal(pair.sent.filter((x) => x.t === 'answer').length, 1);

  // An ICE restart of the same connection: the same transceiver, nothing new to show.
  pair.deliver({ t: 'offer', sdp: withVideo(offer(1)) });
  await until(() => pair.sent.filter((x) => x.t === 'answer').length === 2, 'the restart answer');
  assert.deepEqual(shown, ['incoming-1']);

  // The connection dies; the new one takes the share before its answer
  // and shows its own incoming track.
  pc1.ctl.message(Uint8Array.of(1).buffer);
  pc1.sctp.state = 'closed';
  pc1.ctl.onclose();
  await until(() => pair.sent.some((x) => x.t === 'reconnect'), 'the reconnect request');
  pair.deliver({ t: 'offer', sdp: withVideo(offer(2)) });
  await until(() => FakePC.all[1]?.localDescription, 'the new answer');
  const pc2 = FakePC.all[1];
  assert.deepEqual(pc2.answered, { direction: 'sendrecv', track: share }, 'the share goes on over the new connection');
  assert.deepEqual(shown, ['incoming-1', 'incoming-2']);
  pc2.bind(fp(2));
  await until(() => s.generation === 1, 'the new connection');
  await until(() => pc2.tx.sender.params, 'the new sender tuned');
  assert.equal(pc2.tx.sender.params.encodings[0].maxFramerate, 15);

  // Stopping: nothing on the sender.
  assert.equal(await s.setShareTrack(null), true);
  assert.equal(pc2.tx.sender.track, null);
  assert.equal(s.shareTrack, null);
  s.close();
});

test('rtc: without a video section there is nothing to show or share on', async () => {
  const pair = new FakePair();
  const shown = [];
  FakePC.all = [];
  const p = connect({ pair, RTCPeerConnection: FakePC });
  pair.deliver({ t: 'offer', sdp: offer(1) });
  await until(() => FakePC.all[0]?.localDescription, 'the answer');
  FakePC.all[0].bind(fp(1));
  const s = await p;
  s.onvideo = (track) => shown.push(track);
  assert.deepEqual(shown, []);
  assert.equal(s.video, null);
  assert.ok(!s.canShare);
  assert.equal(await s.setShareTrack({ kind: 'video' }), false, 'kept for a later connection, none now');
  s.close();
});
