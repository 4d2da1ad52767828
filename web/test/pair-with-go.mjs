// pair-with-go.mjs SERVER_URL CODE — pairs as side b with the JavaScript
// implementation over a real WebSocket (the `ws` package) against a Go peer
// a, then plays a scripted signalling exchange. Driven by
// web/pairing_node_test.go, which checks the other side. Every step is one
// JSON line on stdout:
//   {"event":"paired","phrase":…,"lang":…,"peer":{"name":…,"app":…,"path":…},"ice_servers":n}
//   {"event":"signal","t":…}           for each signal received from a
//   {"event":"done"}
//   {"event":"error","kind":…,"message":…}   then exit status 3 (bad code) or 1
//
// Script: after pairing, a sends offer, cand, cand-end; b answers with
// answer (sdp "echo:" + the offer's sdp), the same cand, cand-end, then
// closes the mailbox happily. With a third argument "reopen", b first drops
// its WebSocket and re-opens the mailbox on a new one (docs/protocol.md,
// section 3.1), sending "restart" while it is down, and drops it again
// after the offer: {"event":"reopened"} each time.

import WebSocket from 'ws';
import { Codes } from '../src/code.js';
import { claim, PairingError } from '../src/pairing.js';
import { lists } from './helpers.mjs';

const [server, input, mode] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const codes = new Codes(lists());
const signal = AbortSignal.timeout(20_000);

try {
  const code = codes.parse(input);
  const pair = await claim({
    server,
    code,
    phrase: (lang, idx) => codes.phrase(lang, idx),
    hello: { name: 'Bernd Büchner (node)', app: 'consult', path: 'auto' },
    WebSocket,
    signal,
  });
  out({
    event: 'paired',
    phrase: pair.phrase,
    lang: pair.lang,
    peer: { name: pair.peer.name ?? '', app: pair.peer.app ?? '', path: pair.peer.path ?? '' },
    ice_servers: pair.iceServers.length,
  });
  const reopen = async () => {
    await pair.reopen();
    out({ event: 'reopened' });
  };
  if (mode === 'reopen') {
    const p = reopen();
    pair.send({ t: 'restart' }); // waits for the new WebSocket
    await p;
  }
  const got = [];
  while (got.length < 3) {
    const s = await pair.recv(signal);
    out({ event: 'signal', t: s.t });
    got.push(s);
    if (mode === 'reopen' && got.length === 1) await reopen();
  }
  const [offer, cand, end] = got;
  if (offer.t !== 'offer' || cand.t !== 'cand' || end.t !== 'cand-end') throw new Error(`unexpected script: ${got.map((s) => s.t)}`);
  pair.send({ t: 'answer', sdp: 'echo:' + offer.sdp });
  pair.send({ t: 'cand', c: cand.c, mid: cand.mid, idx: cand.idx });
  pair.send({ t: 'cand-end' });
  // Wait for a's "bye" so that our frames surely reached the mailbox before we leave.
  try {
    await pair.recv(signal);
  } catch (e) {
    if (!(e instanceof PairingError && e.kind === 'peer-gone')) throw e;
  }
  pair.close('happy');
  out({ event: 'done' });
} catch (e) {
  out({ event: 'error', kind: e.kind ?? 'other', message: String(e.message) });
  process.exitCode = e.kind === 'bad-code' ? 3 : 1;
}
