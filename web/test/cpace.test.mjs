import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as cp from '../src/cpace.js';
import { fromBase64, fromHex, toHex, utf8 } from '../src/bytes.js';
import { readJSON } from './helpers.mjs';

// The repository's copy of /work/shared/vectors/cpace-ristretto255-sha512.json
// (byte-identical), so that the test runs in any clone.
const draft = readJSON('internal/cpace/testdata/cpace-ristretto255-sha512.json');

function vectors() {
  const v = draft.G_Coffee25519;
  const b = (k) => fromBase64(v[k]);
  return { v, b };
}

test('draft vector: generator, shares, K, ISK', () => {
  const { b } = vectors();
  const g = cp.generator(b('PRS'), b('CI'), b('sid'));
  assert.equal(toHex(g.toBytes()), toHex(b('g')));
  const ya = cp.scalarFromLE(b('ya'));
  const yb = cp.scalarFromLE(b('yb'));
  const ini = cp.start(b('PRS'), b('CI'), b('sid'), b('ADa'), ya);
  assert.equal(toHex(ini.ya), toHex(b('Ya')));
  const r = cp.respond(b('PRS'), b('CI'), b('sid'), b('ADb'), b('Ya'), b('ADa'), yb);
  assert.equal(toHex(r.yb), toHex(b('Yb')));
  assert.equal(toHex(r.isk), toHex(b('ISK_IR')));
  assert.equal(toHex(ini.finish(r.yb, b('ADb'))), toHex(b('ISK_IR')));
  assert.equal(toHex(cp.scalarMultVfy(ya, b('Yb'))), toHex(b('K')));
  assert.equal(toHex(cp.scalarMultVfy(yb, b('Ya'))), toHex(b('K')));
  assert.throws(() => ini.finish(r.yb, b('ADb')), cp.CPaceError, 'finish twice');
});

test('draft vector: valid and invalid points', () => {
  const p = draft.G_Coffee25519_points;
  const s = cp.scalarFromLE(fromBase64(p.Valid.s));
  assert.equal(toHex(cp.scalarMultVfy(s, fromBase64(p.Valid.X))), toHex(fromBase64(p.Valid['G.scalar_mult_vfy(s,X)'])));
  assert.throws(() => cp.scalarMultVfy(s, fromBase64(p['Invalid Y'])), cp.CPaceError);
});

test('hostile shares are refused', () => {
  const { b } = vectors();
  const y = cp.scalarFromLE(b('ya'));
  const identity = new Uint8Array(32);
  assert.throws(() => cp.scalarMultVfy(y, identity), /identity|invalid/);
  assert.throws(() => cp.respond(b('PRS'), b('CI'), b('sid'), b('ADb'), identity, b('ADa')), cp.CPaceError);
  assert.throws(() => cp.scalarMultVfy(y, new Uint8Array(31)), cp.CPaceError);
  assert.throws(() => cp.scalarMultVfy(y, new Uint8Array(33)), cp.CPaceError);
  const ff = new Uint8Array(32).fill(0xff); // not canonical
  assert.throws(() => cp.scalarMultVfy(y, ff), cp.CPaceError);
  const nc = b('Ya').slice();
  nc[31] |= 0x80; // high bit set: never canonical
  assert.throws(() => cp.scalarMultVfy(y, nc), cp.CPaceError);
  assert.throws(() => cp.respond(new Uint8Array(0), b('CI'), b('sid'), b('ADb'), b('Ya'), b('ADa')), cp.CPaceError);
});

test('scalars: fixed ones are checked, random ones are fresh and in range', () => {
  assert.throws(() => cp.scalarFromLE(new Uint8Array(32)), cp.CPaceError, 'zero');
  assert.throws(() => cp.scalarFromLE(new Uint8Array(32).fill(0xff)), cp.CPaceError, '>= order');
  assert.throws(() => cp.scalarFromLE(new Uint8Array(31)), cp.CPaceError);
  const a = cp.randomScalar();
  const b = cp.randomScalar();
  assert.notEqual(a, b);
  assert.ok(a > 0n && a < 2n ** 253n);
});

test('a random run agrees on ISK; a wrong password does not', () => {
  const ci = utf8('ci');
  const sid = fromHex('00112233445566778899aabbccddeeff');
  const ini = cp.start(utf8('47-nordsee-tulpe'), ci, sid, utf8('a'));
  const r = cp.respond(utf8('47-nordsee-tulpe'), ci, sid, utf8('b'), ini.ya, utf8('a'));
  assert.equal(toHex(ini.finish(r.yb, utf8('b'))), toHex(r.isk));
  const ini2 = cp.start(utf8('47-nordsee-tulpe'), ci, sid, utf8('a'));
  const r2 = cp.respond(utf8('47-nordsee-tanne'), ci, sid, utf8('b'), ini2.ya, utf8('a'));
  assert.notEqual(toHex(ini2.finish(r2.yb, utf8('b'))), toHex(r2.isk));
});
