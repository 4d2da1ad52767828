// Randomised hostile input for every parser of the page, with a fixed seed
// so a failure reproduces: they may refuse, but only with their own error
// type, never crash or accept garbage as something else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as w from '../src/wire.js';
import { CodeError, Codes } from '../src/code.js';
import { fromHex, toBase64 } from '../src/bytes.js';
import { lists, readJSON } from './helpers.mjs';

function rng(seed) {
  let s = seed >>> 0;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function mutate(r, b) {
  const out = Array.from(b);
  const n = 1 + r(4);
  for (let i = 0; i < n; i++) {
    switch (r(4)) {
      case 0:
        if (out.length) out[r(out.length)] = r(256);
        break;
      case 1:
        out.splice(r(out.length + 1), 0, r(256));
        break;
      case 2:
        if (out.length) out.splice(r(out.length), 1);
        break;
      default:
        out.length = r(out.length + 1);
    }
  }
  return Uint8Array.from(out);
}

const g = readJSON('testdata/pairing-v1.json');
const seeds = [g.pake_a, g.pake_b, g.confirm_a, ...g.sealed.map((s) => s.body)].map(fromHex);

test('pairing frames and sealed bodies: mutations are refused with WireError', () => {
  const r = rng(1);
  for (let i = 0; i < 5000; i++) {
    const b = mutate(r, seeds[r(seeds.length)]);
    try {
      w.parsePairingFrame(b);
    } catch (e) {
      assert.ok(e instanceof w.WireError, String(e));
    }
    const o = new w.Opener(fromHex(g.keys.ks_ab));
    try {
      o.open(b);
      // Only an unchanged first frame of a->b may open.
      assert.equal(toBase64(b), toBase64(fromHex(g.sealed[0].body)));
    } catch (e) {
      assert.ok(e instanceof w.WireError, String(e));
    }
  }
});

test('mailbox frames: mutations are refused with WireError or parse to a checked frame', () => {
  const r = rng(2);
  const frames = [
    '{"type":"welcome","version":1,"motd":"hi"}',
    '{"type":"claimed","mailbox":"K/wvEh0BZ1hgfIoXHKql1w=="}',
    '{"type":"paired","ice_servers":[{"urls":["turn:192.0.2.1:3478"],"username":"u","credential":"c"}],"ttl":600}',
    `{"type":"message","body":"${toBase64(fromHex(g.pake_a))}"}`,
    '{"type":"closed","mood":"scary"}',
    '{"type":"error","kind":"crowded","message":"x"}',
  ];
  const te = new TextEncoder();
  const td = new TextDecoder();
  for (let i = 0; i < 5000; i++) {
    const s = td.decode(mutate(r, te.encode(frames[r(frames.length)])));
    try {
      const f = w.parseServerFrame(s);
      assert.ok(['welcome', 'claimed', 'allocated', 'paired', 'message', 'closed', 'error'].includes(f.type));
    } catch (e) {
      assert.ok(e instanceof w.WireError, String(e));
    }
  }
});

test('codes: random input is parsed or refused with CodeError', () => {
  const codes = new Codes(lists());
  const r = rng(3);
  const alphabet = [...'0123456789abcdefghijklmnopqrstuvwxyzäöüßÄÖÜẞ -_.,/#%:?İK\u0308\u00ad\u200b\uff10\uff41\u2013"\'()\n\t'];
  const inputs = readJSON('testdata/code-parse-v1.json').cases.map((c) => c.in);
  for (let i = 0; i < 3000; i++) {
    let s;
    if (r(2)) {
      s = Array.from({ length: r(30) }, () => alphabet[r(alphabet.length)]).join('');
    } else {
      const base = [...inputs[r(inputs.length)]];
      const k = r(base.length + 1);
      base.splice(k, r(3), ...Array.from({ length: r(3) }, () => alphabet[r(alphabet.length)]));
      s = base.join('');
    }
    try {
      const c = codes.parse(s);
      assert.match(c.code, /^[1-9][0-9]{0,5}-[a-z]{3,9}-[a-z]{3,9}$/);
      assert.equal(codes.canonical(s), c.code);
    } catch (e) {
      assert.ok(e instanceof CodeError, `${JSON.stringify(s)}: ${e}`);
    }
  }
});
