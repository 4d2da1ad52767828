import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as w from '../src/wire.js';
import * as cp from '../src/cpace.js';
import { concat, fromHex, fromUTF8, toHex, utf8 } from '../src/bytes.js';
import { Codes } from '../src/code.js';
import { lists, readJSON } from './helpers.mjs';

const g = readJSON('testdata/pairing-v1.json');
const phrases = readJSON('testdata/pairing-v1-phrases.json');
const h = fromHex;

function keys() {
  return w.deriveKeys(h(g.cpace.ISK));
}

test('golden: CPace inputs and run as side b', () => {
  const prs = utf8(g.inputs.code);
  const ci = concat(...[utf8('direkt/v1'), utf8(g.inputs.nameplate)].map((x) => concat([x.length], x)));
  assert.equal(toHex(prs), g.cpace.prs);
  assert.equal(toHex(ci), g.cpace.ci);
  assert.equal(toHex(utf8('direkt/v1 a')), g.cpace.ada);
  assert.equal(toHex(utf8('direkt/v1 b')), g.cpace.adb);
  const r = cp.respond(prs, ci, h(g.inputs.sid), h(g.cpace.adb), h(g.cpace.Ya), h(g.cpace.ada), cp.scalarFromLE(h(g.inputs.yb_scalar)));
  assert.equal(toHex(r.yb), g.cpace.Yb);
  assert.equal(toHex(r.isk), g.cpace.ISK);
});

test('golden: key schedule, tags, frames', () => {
  const k = keys();
  assert.equal(toHex(k.kcA), g.keys.kc_a);
  assert.equal(toHex(k.kcB), g.keys.kc_b);
  assert.equal(toHex(k.ksAB), g.keys.ks_ab);
  assert.equal(toHex(k.ksBA), g.keys.ks_ba);
  assert.equal(toHex(k.kbind), g.keys.kbind);
  assert.equal(toHex(k.sas), g.keys.sas);
  const sid = h(g.inputs.sid);
  assert.equal(toHex(w.confirm(k.kcA, sid)), g.ta);
  assert.equal(toHex(w.confirm(k.kcB, sid)), g.tb);
  assert.ok(w.checkConfirm(k.kcA, sid, h(g.ta)));
  assert.ok(!w.checkConfirm(k.kcA, sid, h(g.tb)));
  assert.equal(toHex(w.encodePakeA(h(g.cpace.Ya))), g.pake_a);
  assert.equal(toHex(w.encodePakeB(h(g.cpace.Yb), h(g.tb))), g.pake_b);
  assert.equal(toHex(w.encodeConfirmA(h(g.ta))), g.confirm_a);
  const pa = w.parsePairingFrame(h(g.pake_a));
  assert.equal(pa.kind, w.KIND_PAKE_A);
  assert.equal(toHex(pa.y), g.cpace.Ya);
  const pb = w.parsePairingFrame(h(g.pake_b));
  assert.equal(toHex(pb.y), g.cpace.Yb);
  assert.equal(toHex(pb.t), g.tb);
  assert.equal(toHex(w.parsePairingFrame(h(g.confirm_a)).t), g.ta);
});

test('golden: SAS indices, phrases in both languages, binding proofs', () => {
  const k = keys();
  assert.deepEqual(w.sasIndices(k.sas), g.sas_indices);
  assert.deepEqual(phrases.sas_indices, g.sas_indices);
  const codes = new Codes(lists());
  assert.equal(codes.phrase('en', w.sasIndices(k.sas)), phrases.phrase_en);
  assert.equal(codes.phrase('de', w.sasIndices(k.sas)), phrases.phrase_de);
  // The golden code's words are German, so both peers show the German phrase.
  assert.equal(codes.langOf(g.inputs.code.split('-').slice(1)), 'de');
  const fpA = h(g.inputs.fp_a);
  const fpB = h(g.inputs.fp_b);
  assert.equal(toHex(w.bindingProof(k.kbind, 'a', fpA, fpB)), g.binding_proof_a);
  assert.equal(toHex(w.bindingProof(k.kbind, 'b', fpA, fpB)), g.binding_proof_b);
  assert.notEqual(toHex(w.bindingProof(k.kbind, 'b', fpB, fpA)), g.binding_proof_b, 'fingerprint order matters');
});

test('golden: sealed bodies open, and seal to the same bytes', () => {
  const k = keys();
  const ab = new w.Opener(k.ksAB); // b opens a's frames
  const ba = new w.Opener(k.ksBA);
  const sealAB = new w.Sealer(k.ksAB);
  const sealBA = new w.Sealer(k.ksBA);
  for (const s of g.sealed) {
    const [opener, sealer] = s.dir === 'a->b' ? [ab, sealAB] : [ba, sealBA];
    const sig = opener.open(h(s.body));
    assert.deepEqual(sig, s.signal);
    assert.equal(toHex(w.marshalSignal(s.signal)), s.plaintext);
    assert.equal(toHex(sealer.seal(s.signal)), s.body, `seal ${s.dir} seq ${s.seq}`);
  }
});

test('golden: the wrong code', () => {
  const wc = g.wrong_code;
  const prs = utf8(wc.code_b);
  const ci = h(g.cpace.ci);
  const r = cp.respond(prs, ci, h(g.inputs.sid), h(g.cpace.adb), h(g.cpace.Ya), h(g.cpace.ada), cp.scalarFromLE(h(g.inputs.yb_scalar)));
  assert.equal(toHex(r.isk), wc.isk_b);
  const kb = w.deriveKeys(r.isk);
  const sid = h(g.inputs.sid);
  assert.equal(toHex(w.confirm(kb.kcB, sid)), wc.tb);
  assert.equal(toHex(w.encodePakeB(r.yb, w.confirm(kb.kcB, sid))), wc.pake_b);
  // b cannot verify a's Ta; a cannot verify b's Tb.
  const ta = w.parsePairingFrame(h(wc.confirm_a)).t;
  assert.equal(toHex(ta), wc.ta);
  assert.equal(w.checkConfirm(kb.kcA, sid, ta), wc.b_accepts_ta);
  assert.equal(w.checkConfirm(keys().kcB, sid, h(wc.tb)), wc.a_accepts_tb);
  assert.equal(wc.a_accepts_tb, false);
  assert.equal(wc.b_accepts_ta, false);
});

function sealedPair() {
  const key = h(g.keys.ks_ab);
  return { s: new w.Sealer(key), o: new w.Opener(key) };
}

test('sealing: replay, reorder, skip, tamper and wrong key are refused, and break the opener', () => {
  const hello = { t: 'hello', v: 1, name: 'x' };
  // replay
  {
    const { s, o } = sealedPair();
    const f0 = s.seal(hello);
    o.open(f0);
    assert.throws(() => o.open(f0), (e) => e.kind === 'sequence');
    assert.throws(() => o.open(s.seal(hello)), (e) => e.kind === 'broken');
  }
  // reorder / skip
  {
    const { s, o } = sealedPair();
    const f0 = s.seal(hello);
    const f1 = s.seal({ t: 'cand-end' });
    assert.throws(() => o.open(f1), (e) => e.kind === 'sequence');
    assert.throws(() => o.open(f0), (e) => e.kind === 'broken');
  }
  // tamper: every byte of ciphertext, tag and header
  {
    const { s } = sealedPair();
    const f0 = s.seal(hello);
    for (let i = 0; i < f0.length; i++) {
      const o = new w.Opener(h(g.keys.ks_ab));
      const t = f0.slice();
      t[i] ^= 0x01;
      assert.throws(() => o.open(t), w.WireError, `flipped byte ${i}`);
    }
    // a forged header with the right seq but re-labelled kind
    const o = new w.Opener(h(g.keys.ks_ab));
    const t = f0.slice();
    t[1] = w.KIND_ABORT;
    assert.throws(() => o.open(t), w.WireError);
  }
  // wrong key (the other direction)
  {
    const s = new w.Sealer(h(g.keys.ks_ba));
    const o = new w.Opener(h(g.keys.ks_ab));
    assert.throws(() => o.open(s.seal(hello)), (e) => e.kind === 'auth');
  }
  // truncated
  {
    const { s, o } = sealedPair();
    const f0 = s.seal(hello);
    assert.throws(() => o.open(f0.slice(0, 20)), (e) => e.kind === 'malformed');
  }
});

test('sealing refuses invalid and oversized signals without using a sequence number', () => {
  const { s, o } = sealedPair();
  assert.throws(() => s.seal({ t: 'offer', sdp: 'x'.repeat(w.MAX_SDP + 1) }), (e) => e.kind === 'too-large');
  assert.throws(() => s.seal({ t: 'nope' }), (e) => e.kind === 'unknown-type');
  assert.throws(() => s.seal({ t: 'hello', v: 2 }), (e) => e.kind === 'malformed');
  assert.deepEqual(o.open(s.seal({ t: 'cand-end' })), { t: 'cand-end' });
});

test('signals: validation of hostile fields', () => {
  const ok = [
    { t: 'hello', v: 1 },
    { t: 'hello', v: 1, name: 'Bernd Büchner', id: 'aCnxaVLrovUphdx9mx9NQuyBshDsVNg2wsG8R2lHcYE=', app: 'consult', path: 'relay' },
    { t: 'hello', v: 1, app: 'consult', screen: 1 },
    { t: 'hello', v: 1, screen: 255 },
    { t: 'offer', sdp: 'v=0\r\n' },
    { t: 'cand', c: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host', mid: '0', idx: 0 },
    { t: 'cand', c: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host' },
    { t: 'cand-end' },
    { t: 'bye', reason: 'closed' },
  ];
  for (const s of ok) assert.doesNotThrow(() => w.validateSignal(s), JSON.stringify(s));
  const bad = [
    [{ t: 'hello' }, 'malformed'],
    [{ t: 'hello', v: 1, name: 'a\u0007b' }, 'malformed'],
    [{ t: 'hello', v: 1, name: 'ä'.repeat(65) }, 'too-large'],
    [{ t: 'hello', v: 1, id: 'AAAA' }, 'malformed'],
    [{ t: 'hello', v: 1, id: '!!!!' }, 'malformed'],
    [{ t: 'hello', v: 1, app: 'shell' }, 'malformed'],
    [{ t: 'hello', v: 1, path: 'x' }, 'malformed'],
    [{ t: 'hello', v: 1, screen: -1 }, 'malformed'],
    [{ t: 'hello', v: 1, screen: 256 }, 'malformed'],
    [{ t: 'hello', v: 1, screen: 1.5 }, 'malformed'],
    [{ t: 'hello', v: 1, screen: '1' }, 'malformed'],
    [{ t: 'answer', sdp: '' }, 'malformed'],
    [{ t: 'answer' }, 'malformed'],
    [{ t: 'cand', c: 'candidate:1\r\na=evil' }, 'malformed'],
    [{ t: 'cand', c: '' }, 'malformed'],
    [{ t: 'cand', c: 'x'.repeat(1025) }, 'too-large'],
    [{ t: 'cand', c: 'x', mid: 'a\nb' }, 'malformed'],
    [{ t: 'cand', c: 'x', idx: -1 }, 'malformed'],
    [{ t: 'cand', c: 'x', idx: 65536 }, 'malformed'],
    [{ t: 'bye', reason: '\u001b[2J' }, 'malformed'],
    [{ t: 'exec', cmd: 'rm' }, 'unknown-type'],
    [{}, 'malformed'],
    [[], 'malformed'],
    [null, 'malformed'],
  ];
  for (const [s, kind] of bad) assert.throws(() => w.validateSignal(s), (e) => e.kind === kind, JSON.stringify(s));
  assert.throws(() => w.parseSignal(utf8('{"t":')), (e) => e.kind === 'malformed');
  assert.throws(() => w.parseSignal(new Uint8Array([0x7b, 0xff, 0x7d])), (e) => e.kind === 'malformed');
});

test('pairing frames: strict parsing', () => {
  const bad = [
    [[], 'malformed'],
    [[1], 'malformed'],
    [[2, 1, ...new Array(32).fill(0)], 'version'],
    [[1, 9], 'unknown-type'],
    [[1, 1, ...new Array(31).fill(0)], 'malformed'],
    [[1, 2, ...new Array(63).fill(0)], 'malformed'],
    [[1, 3, ...new Array(33).fill(0)], 'malformed'],
    [[1, 0x10, ...new Array(23).fill(0)], 'malformed'],
    [[1, 0x7f, 0x07], 'malformed'],
    [[1, 0x7f, 0xc3], 'malformed'],
    [[1, 0x7f, ...new Array(257).fill(0x61)], 'too-large'],
  ];
  for (const [b, kind] of bad) assert.throws(() => w.parsePairingFrame(Uint8Array.from(b)), (e) => e.kind === kind, JSON.stringify(b).slice(0, 40));
  assert.throws(() => w.parsePairingFrame(new Uint8Array(w.MAX_BODY + 1)), (e) => e.kind === 'too-large');
  assert.equal(w.parsePairingFrame(Uint8Array.from([1, 0x7f, 0x68, 0x69])).reason, 'hi');
  // encodeAbort cleans up what it is given.
  const ab = w.parsePairingFrame(w.encodeAbort('a\nb' + 'ü'.repeat(200)));
  assert.ok(ab.reason.startsWith('a\uFFFDb'));
  assert.ok(utf8(ab.reason).length <= w.MAX_ABORT_REASON);
});

test('mailbox frames from the server: strict parsing', () => {
  assert.deepEqual(w.parseServerFrame('{"type":"welcome","version":1}'), { type: 'welcome', version: 1, motd: '' });
  const c = w.parseServerFrame('{"type":"claimed","mailbox":"K/wvEh0BZ1hgfIoXHKql1w=="}');
  assert.equal(toHex(c.mailbox), g.inputs.sid);
  const p = w.parseServerFrame('{"type":"paired","ice_servers":[{"urls":["turn:192.0.2.1:3478?transport=udp"],"username":"u","credential":"c"}],"ttl":600}');
  assert.deepEqual(p.iceServers, [{ urls: ['turn:192.0.2.1:3478?transport=udp'], username: 'u', credential: 'c' }]);
  assert.equal(w.parseServerFrame('{"type":"message","body":"AQE="}').body.length, 2);
  assert.equal(w.parseServerFrame('{"type":"error","kind":"crowded","message":"two peers"}').kind, 'crowded');
  const bad = [
    ['', 'malformed'],
    ['[]', 'malformed'],
    ['{"type":"nope"}', 'unknown-type'],
    ['{"type":"claimed","mailbox":"AAAA"}', 'malformed'],
    ['{"type":"message"}', 'malformed'],
    ['{"type":"message","body":"%%%%"}', 'malformed'],
    ['{"type":"closed","mood":"angry"}', 'malformed'],
    ['{"type":"paired","ice_servers":[{"urls":[]}]}', 'malformed'],
    ['{"type":"paired","ice_servers":[{"urls":["stun:x\\n"]}]}', 'malformed'],
    ['{"type":"paired","ttl":-1}', 'malformed'],
    ['{"type":"error","kind":""}', 'malformed'],
    ['{"type":"welcome","motd":"\\u001b[31m"}', 'malformed'],
    [`{"type":"message","body":"${'A'.repeat(22000)}"}`, 'too-large'],
    [' '.repeat(w.MAX_FRAME + 1), 'too-large'],
  ];
  for (const [s, kind] of bad) assert.throws(() => w.parseServerFrame(s), (e) => e.kind === kind, s.slice(0, 60));
  assert.equal(w.claimFrame('47'), '{"type":"claim","nameplate":"47"}');
  assert.throws(() => w.claimFrame('047'));
  assert.equal(w.addFrame(Uint8Array.from([1, 1])), '{"type":"add","body":"AQE="}');
  assert.equal(w.closeFrame('scary'), '{"type":"close","mood":"scary"}');
});

test('relay candidates are recognised by address', async () => {
  const { relayAddress } = await import('../src/rtc.js');
  assert.equal(relayAddress('candidate:1 1 udp 16777215 203.0.113.5 49152 typ relay raddr 0.0.0.0 rport 0'), '203.0.113.5:49152');
  assert.equal(relayAddress('a=candidate:1 1 UDP 16777215 2001:DB8::1 3478 typ relay'), '2001:db8::1:3478');
  assert.equal(relayAddress('candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host'), null);
  assert.equal(relayAddress('candidate:1 1 udp 1 192.0.2.1 5000 typ'), null);
  assert.equal(relayAddress('garbage'), null);
});

test('signals: a hello says whether its sender can share a screen, as Go writes it', () => {
  // Field order as wire.Signal: screen after path, left out when 0.
  assert.equal(fromUTF8(w.marshalSignal({ t: 'hello', v: 1, app: 'consult', path: 'auto', screen: 1 })), '{"t":"hello","v":1,"app":"consult","path":"auto","screen":1}');
  assert.equal(fromUTF8(w.marshalSignal({ t: 'hello', v: 1, screen: 0 })), '{"t":"hello","v":1}');
  assert.equal(w.canScreen({ t: 'hello', v: 1 }), false);
  assert.equal(w.canScreen({ t: 'hello', v: 1, screen: 0 }), false);
  assert.equal(w.canScreen({ t: 'hello', v: 1, screen: 1 }), true);
  assert.equal(w.canScreen({ t: 'hello', v: 1, screen: 7 }), true);
  assert.equal(w.canScreen({ t: 'bye', screen: 1 }), false);
});
