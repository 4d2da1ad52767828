// Byte helpers shared by the protocol modules: hex, base64, UTF-8, LEB128
// length prefixes (docs/protocol.md notation) and constant-time comparison.
// Nothing here touches the DOM, so node's test runner can load it.

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** utf8 returns the UTF-8 bytes of s. */
export function utf8(s) {
  return enc.encode(s);
}

/**
 * fromUTF8 decodes strict UTF-8; it throws a TypeError on invalid input.
 * @param {Uint8Array} b
 */
export function fromUTF8(b) {
  return dec.decode(b);
}

/** concat joins byte arrays. */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** uleb128 encodes a non-negative integer as unsigned LEB128. */
export function uleb128(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Uint8Array.from(out);
}

/** lv is uleb128(len(x)) || x, the CPace draft's prepend_len. */
export function lv(x) {
  return concat(uleb128(x.length), x);
}

/** lvCat is lv(a) || lv(b) || …. */
export function lvCat(...parts) {
  return concat(...parts.map(lv));
}

/** toHex encodes bytes as lower-case hex. */
export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** fromHex decodes hex (either case); it throws on odd length or a bad digit. */
export function fromHex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('bad hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64REV = new Map([...B64].map((c, i) => [c, i]));

/** toBase64 is standard base64 with padding, as Go's encoding/json writes []byte. */
export function toBase64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    s += i + 1 < b.length ? B64[(n >> 6) & 63] : '=';
    s += i + 2 < b.length ? B64[n & 63] : '=';
  }
  return s;
}

/**
 * fromBase64 decodes standard base64 with padding strictly, as Go's
 * encoding/json does for []byte: a wrong length, a character outside the
 * alphabet, misplaced padding or non-zero trailing bits throw.
 */
export function fromBase64(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0) throw new TypeError('bad base64');
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s[i + j];
      let v;
      if (c === '=' && last && j >= 4 - pad) v = 0;
      else {
        v = B64REV.get(c);
        if (v === undefined) throw new TypeError('bad base64');
      }
      n = (n << 6) | v;
    }
    if (last && pad === 2 && (n & 0xffff) !== 0) throw new TypeError('bad base64');
    if (last && pad === 1 && (n & 0xff) !== 0) throw new TypeError('bad base64');
    out[o++] = (n >> 16) & 0xff;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}

/** equal compares two byte arrays in time independent of where they differ. */
export function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** u64be encodes a non-negative safe integer as 8 bytes big endian. */
export function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** wellFormed reports whether s has no lone surrogates (so it is valid UTF-16 and encodes to UTF-8 faithfully). */
export function wellFormed(s) {
  return !LONE_SURROGATE.test(s);
}

/** toWellFormed replaces lone surrogates with U+FFFD. */
export function toWellFormed(s) {
  return s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
}
