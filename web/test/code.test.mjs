import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodeError, Codes } from '../src/code.js';
import { codeFromLocation, codeFromInput } from '../src/link.js';
import { lists, readJSON } from './helpers.mjs';

const codes = new Codes(lists());

test('code parsing agrees with internal/code on the shared table', () => {
  const tab = readJSON('testdata/code-parse-v1.json');
  assert.ok(tab.cases.length >= 50);
  for (const c of tab.cases) {
    let canon = '';
    try {
      canon = codes.canonical(c.in);
    } catch (e) {
      assert.ok(e instanceof CodeError, `${JSON.stringify(c.in)}: ${e}`);
    }
    assert.equal(canon, c.canonical ?? '', `canonical(${JSON.stringify(c.in)})`);
    let got;
    try {
      const r = codes.parse(c.in);
      got = { code: r.code, lang: r.lang };
    } catch (e) {
      assert.ok(e instanceof CodeError, `${JSON.stringify(c.in)}: ${e}`);
      got = { error: e.kind };
      if (e.detail.word !== undefined) {
        Object.assign(got, { word: e.detail.word, position: e.detail.position, word_lang: e.detail.lang });
        if (e.detail.suggestions.length) got.suggestions = e.detail.suggestions;
      }
    }
    const want = { ...c };
    delete want.in;
    delete want.canonical;
    assert.deepEqual(got, want, `parse(${JSON.stringify(c.in)})`);
  }
});

test('error details a person needs', () => {
  const kind = (s) => {
    try {
      codes.parse(s);
    } catch (e) {
      return [e.kind, e.detail];
    }
    return null;
  };
  assert.deepEqual(kind('nordsee tulpe 47'), ['nameplate', { reason: 'first', hint: '47-nordsee-tulpe' }]);
  assert.deepEqual(kind('047-a-b'), ['nameplate', { reason: 'zero' }]);
  assert.deepEqual(kind('1234567-a-b'), ['nameplate', { reason: 'digits' }]);
  assert.deepEqual(kind('47-nordsee'), ['word-count', { count: 1 }]);
  assert.deepEqual(kind('47-nord$ee-tulpe'), ['character', { char: '$' }]);
  assert.deepEqual(kind('/j/x%zz1'), ['character', { garbled: true }]);
  assert.deepEqual(kind('47-nordsee-tulpe\uD800'), ['character', { utf8: true }]);
  assert.deepEqual(kind('/j/47-n%FFordsee-tulpe'), ['character', { utf8: true }]);
  assert.deepEqual(kind('https://x.example/j/'), ['empty', { link: true }]);
});

test('phrase and langOf', () => {
  const g = readJSON('testdata/pairing-v1-phrases.json');
  assert.equal(codes.phrase('en', g.sas_indices), g.phrase_en);
  assert.equal(codes.phrase('de', g.sas_indices), g.phrase_de);
  assert.equal(codes.phrase('xx', g.sas_indices), g.phrase_en);
  assert.equal(codes.langOf(['nordsee', 'tulpe']), 'de');
  assert.equal(codes.langOf(['anchor', 'tulip']), 'en');
  assert.equal(codes.langOf(['anchor', 'tulpe']), null);
  assert.equal(codes.langOf([]), null);
});

test('join links: nameplate in the path, words in the fragment', () => {
  assert.deepEqual(codeFromLocation('/j/47', '#nordsee-tulpe'), { input: '47-nordsee-tulpe', fromPath: false });
  assert.deepEqual(codeFromLocation('/j/47', '#Nordsee%20T%C3%BClpe'), { input: '47-Nordsee Tülpe', fromPath: false });
  assert.deepEqual(codeFromLocation('/j/47-nordsee-tulpe', ''), { input: '47-nordsee-tulpe', fromPath: true });
  assert.deepEqual(codeFromLocation('/j/47%20Nordsee%20Tulpe', ''), { input: '47 Nordsee Tulpe', fromPath: true });
  assert.deepEqual(codeFromLocation('/j/', '#47-nordsee-tulpe'), { input: '47-nordsee-tulpe', fromPath: false });
  assert.equal(codeFromLocation('/j/', ''), null);
  assert.equal(codeFromLocation('/j', ''), null);
  assert.equal(codeFromLocation('/j/47', ''), null, 'a nameplate alone is no code: show the form');
  assert.equal(codeFromLocation('/j/assets', ''), null);
  // What a person pastes into the code field.
  assert.equal(codeFromInput('https://direkt.example/j/47#nordsee-tulpe'), '47-nordsee-tulpe');
  assert.equal(codeFromInput('http://192.168.1.5:8080/j/47#Nordsee-Tulpe'), '47-Nordsee-Tulpe');
  assert.equal(codeFromInput('/j/47#nordsee-tulpe'), '47-nordsee-tulpe');
  assert.equal(codeFromInput('https://direkt.example/j/47-nordsee-tulpe'), 'https://direkt.example/j/47-nordsee-tulpe');
  assert.equal(codeFromInput('47 nordsee tulpe'), '47 nordsee tulpe');
  for (const s of ['https://direkt.example/j/47#nordsee-tulpe', '/j/47#nordsee-tulpe']) {
    assert.equal(codes.parse(codeFromInput(s)).code, '47-nordsee-tulpe');
  }
});
