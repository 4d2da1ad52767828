// Long-term keys as people see them. The browser has none of its own; the
// adviser's direkt has one, sends it in its hello (docs/protocol.md, 4.3)
// and signs the record with it.

import { sha256 } from '@noble/hashes/sha2.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * fingerprint is internal/identity.Fingerprint: the first 80 bits of the
 * key's SHA-256 in lower-case base32 (RFC 4648, no padding), in groups of
 * four, e.g. "abcd-efgh-ijkl-mnop". It is what `direkt verify --key` takes
 * and what the record's PDF shows.
 * @param {Uint8Array} pub a 32-byte Ed25519 public key
 */
export function fingerprint(pub) {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  const sum = sha256(pub).subarray(0, 10);
  let s = '';
  let bits = 0;
  let acc = 0;
  for (const b of sum) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      s += BASE32[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return s.match(/.{1,4}/g).join('-');
}
