// CPace, suite CPACE-RISTR255-SHA512 (draft-irtf-cfrg-cpace), as
// internal/cpace implements it: the generator string, the element
// derivation, shares, the verified scalar multiplication and ISK with the
// initiator-responder transcript. Pinned by the draft's ristretto255 vector
// and the pairing golden file (web/test/cpace.test.mjs).

import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concat, lv, lvCat, utf8 } from './bytes.js';

const Point = ristretto255.Point;
const Fn = Point.Fn;

/** DSI is the domain-separation identifier of ristretto255 (section 8.3). */
export const DSI = 'CPaceRistretto255';
/** S_IN_BYTES is SHA-512's block size, s_in_bytes (section 8.1). */
export const S_IN_BYTES = 128;

/** CPaceError is an invalid point, identity result or scalar: abort the run. */
export class CPaceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'CPaceError';
  }
}

/**
 * generatorString is lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)
 * with len_zpad = max(0, s_in_bytes - 1 - len(lv(PRS)) - len(lv(DSI))).
 */
export function generatorString(prs, ci, sid) {
  const dsi = utf8(DSI);
  const zpad = Math.max(0, S_IN_BYTES - 1 - lv(prs).length - lv(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zpad), ci, sid);
}

/** generator maps the generator string to ristretto255 (RFC 9496 §4.3.4). */
export function generator(prs, ci, sid) {
  return ristretto255_hasher.deriveToCurve(sha512(generatorString(prs, ci, sid)));
}

/** scalarFromLE decodes a canonical, non-zero 32-byte little-endian scalar. */
export function scalarFromLE(b) {
  if (b.length !== 32) throw new CPaceError('cpace: invalid scalar');
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  if (n === 0n || n >= Fn.ORDER) throw new CPaceError('cpace: invalid scalar');
  return n;
}

/** randomScalar reduces 64 random bytes modulo the group order (section 10.7). */
export function randomScalar() {
  for (;;) {
    const b = randomBytes(64);
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
    b.fill(0);
    n %= Fn.ORDER;
    if (n !== 0n) return n;
  }
}

/** decodePoint decodes a canonical ristretto255 encoding or throws CPaceError. */
export function decodePoint(x) {
  if (!(x instanceof Uint8Array) || x.length !== 32) throw new CPaceError('cpace: invalid point');
  try {
    return Point.fromBytes(x);
  } catch {
    throw new CPaceError('cpace: invalid point');
  }
}

/** scalarMultVfy is G.scalar_mult_vfy: decode X, return encode(y·X), refuse the identity. */
export function scalarMultVfy(y, x) {
  const k = decodePoint(x).multiply(y);
  if (k.is0()) throw new CPaceError('cpace: identity point');
  return k.toBytes();
}

/** transcriptIR is lv_cat(Ya, ADa) || lv_cat(Yb, ADb) (appendix A.3.4). */
export function transcriptIR(ya, ada, yb, adb) {
  return concat(lvCat(ya, ada), lvCat(yb, adb));
}

/** deriveISK is SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript). */
export function deriveISK(sid, k, transcript) {
  return sha512(concat(lvCat(utf8(DSI + '_ISK'), sid, k), transcript));
}

/**
 * respond runs the responder's side in one step: Yb = yb·g and ISK from the
 * initiator's Ya. A bad Ya throws CPaceError (then Yb must not be sent).
 * scalar is for test vectors only; real runs draw a fresh one.
 * @returns {{yb: Uint8Array, isk: Uint8Array}}
 */
export function respond(prs, ci, sid, adb, ya, ada, scalar = randomScalar()) {
  if (prs.length === 0) throw new CPaceError('cpace: empty password');
  const k = scalarMultVfy(scalar, ya);
  const yb = generator(prs, ci, sid).multiply(scalar).toBytes();
  return { yb, isk: deriveISK(sid, k, transcriptIR(ya, ada, yb, adb)) };
}

/**
 * start begins CPace as initiator (used by tests that play side a).
 * @returns {{ya: Uint8Array, finish: (yb: Uint8Array, adb: Uint8Array) => Uint8Array}}
 */
export function start(prs, ci, sid, ada, scalar = randomScalar()) {
  if (prs.length === 0) throw new CPaceError('cpace: empty password');
  const ya = generator(prs, ci, sid).multiply(scalar).toBytes();
  let done = false;
  return {
    ya,
    finish(yb, adb) {
      if (done) throw new CPaceError('cpace: finished');
      done = true;
      const k = scalarMultVfy(scalar, yb);
      return deriveISK(sid, k, transcriptIR(ya, ada, yb, adb));
    },
  };
}
