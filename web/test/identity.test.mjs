import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBase64 } from '../src/bytes.js';
import { fingerprint } from '../src/identity.js';
import { readJSON } from './helpers.mjs';

test('golden: key fingerprints as internal/identity.Fingerprint writes them', () => {
  const tab = readJSON('testdata/fingerprint-v1.json');
  assert.ok(tab.cases.length >= 5);
  for (const c of tab.cases) {
    assert.equal(fingerprint(fromBase64(c.key)), c.fingerprint, c.why);
    assert.match(c.fingerprint, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  }
  assert.throws(() => fingerprint(new Uint8Array(31)), RangeError);
  assert.throws(() => fingerprint('AAAA'), RangeError);
});
