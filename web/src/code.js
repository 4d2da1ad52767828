// Codes as a person types them (docs/protocol.md, section 2), with the same
// tolerance and the same errors as internal/code: case, umlauts, separators,
// join links, and suggestions for a mistyped word. testdata/code-parse-v1.json
// pins Go and this file to the same results (web/test/code.test.mjs and
// web/code_parse_test.go).

import { utf8, wellFormed } from './bytes.js';

export const WORD_COUNT = 2;
export const MAX_NAMEPLATE_DIGITS = 6;
export const MAX_INPUT = 1024;
export const LIST_SIZE = 1024;
const MAX_SUGGEST_DISTANCE = 2;
const MAX_SUGGESTIONS = 3;

/**
 * CodeError says why a code was refused. kind is one of
 *   "empty"        no code at all (detail.link: a link without a code)
 *   "too-long"     more than MAX_INPUT bytes
 *   "character"    a character that cannot be in a code (detail.char; or
 *                  detail.number: a number where a word belongs; or
 *                  detail.garbled: a bad %-escape in a link; or detail.utf8)
 *   "nameplate"    no valid number first (detail.reason: "first" with
 *                  detail.hint, "missing", "digits", "zero")
 *   "word-count"   not WORD_COUNT words (detail.count)
 *   "unknown-word" a word not in the code's list (detail.word, position,
 *                  lang, suggestions)
 *   "mixed-lists"  a word of the other list (same details)
 * The details hold what the person typed: show them, never log them.
 */
export class CodeError extends Error {
  constructor(kind, detail = {}) {
    super(`code: ${kind}`);
    this.name = 'CodeError';
    this.kind = kind;
    this.detail = detail;
  }
}

/**
 * wordLists splits the raw word list files (one word a line, as
 * internal/code embeds them) into {en, de} arrays.
 */
export function wordLists(rawEn, rawDe) {
  const split = (raw) => raw.split(/\s+/).filter(Boolean);
  const lists = { en: split(rawEn), de: split(rawDe) };
  for (const [l, w] of Object.entries(lists)) {
    if (w.length !== LIST_SIZE) throw new Error(`code: ${l} word list has ${w.length} words`);
  }
  return lists;
}

const QUOTES = '"\'`„“”‚‘’«»‹›<>()[]{}';
const SPACE = /^\p{White_Space}$/u;
const DASH = /^\p{Pd}$/u;
const IGNORABLE = new Set([0x00ad, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff]);

const isSpace = (ch) => SPACE.test(ch);
const isDigitStr = (s) => s !== '' && /^[0-9]+$/.test(s);
const isDigitCh = (c) => c >= '0' && c <= '9';

function isSeparator(ch) {
  return ch === '-' || ch === '_' || ch === '.' || ch === ',' || isSpace(ch) || DASH.test(ch) || ch === '\u2212';
}

/** trimFunc trims code points matching f from both ends. */
function trimFunc(s, f) {
  const cps = [...s];
  let i = 0;
  let j = cps.length;
  while (i < j && f(cps[i])) i++;
  while (j > i && f(cps[j - 1])) j--;
  return cps.slice(i, j).join('');
}

const trimSpace = (s) => trimFunc(s, isSpace);

/** lower is Go's unicode.ToLower (simple case mapping) of one code point. */
function lower(ch) {
  const l = ch.toLowerCase();
  return String.fromCodePoint(l.codePointAt(0)); // "İ" → "i̇" in full mapping; Go maps it to "i"
}

function looksLikeURL(s) {
  if (s.includes('://') || s.startsWith('/')) return true;
  const k = s.indexOf('/');
  if (k < 0) return false;
  const host = s.slice(0, k);
  return host.includes('.') || host.includes(':');
}

/** pathUnescape is Go's url.PathUnescape: %XX to bytes, then UTF-8. */
function pathUnescape(s) {
  const b = utf8(s);
  const out = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0x25) {
      out.push(b[i]);
      continue;
    }
    const h = String.fromCharCode(b[i + 1] ?? 0, b[i + 2] ?? 0);
    if (i + 2 >= b.length || !/^[0-9a-fA-F]{2}$/.test(h)) throw new CodeError('character', { garbled: true });
    out.push(parseInt(h, 16));
    i += 2;
  }
  const bytes = Uint8Array.from(out);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), valid: true };
  } catch {
    return { text: new TextDecoder('utf-8').decode(bytes), valid: false };
  }
}

/** extract trims s and takes the code out of a join link. */
function extract(s) {
  s = trimFunc(s, (ch) => isSpace(ch) || QUOTES.includes(ch));
  if (!looksLikeURL(s)) return { text: s, valid: true };
  const hash = s.indexOf('#');
  let rest = hash < 0 ? s : s.slice(0, hash);
  const frag = trimSpace(hash < 0 ? '' : s.slice(hash + 1));
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  const sch = rest.indexOf('://');
  if (sch >= 0) rest = rest.slice(sch + 3);
  const segs = rest.split('/');
  let last = '';
  // segs[0] is the host (or empty for a path "/j/..."): never the code.
  for (let i = segs.length - 1; i > 0 && last === ''; i--) {
    if (trimSpace(segs[i]) !== '') last = segs[i];
  }
  let part = last;
  if (frag !== '') {
    part = frag;
    // direkt's links keep the nameplate in the path and the secret words in
    // the fragment: https://host/j/47#nordsee-tulpe.
    if (last !== '' && /^[0-9]+$/.test(last)) part = `${last}-${frag}`;
  }
  const u = pathUnescape(part);
  if (!/[0-9０-９]/u.test(u.text)) throw new CodeError('empty', { link: true });
  return u;
}

/** fold lower-cases, spells out umlauts, and turns separator runs into "-". */
function fold(s) {
  let out = '';
  let sep = false;
  const put = (b) => {
    if (out.length > 0) {
      const last = out[out.length - 1];
      if (sep || isDigitCh(last) !== isDigitCh(b[0])) out += '-';
    }
    sep = false;
    out += b;
  };
  for (let ch of s) {
    let cp = ch.codePointAt(0);
    if (cp >= 0xd800 && cp <= 0xdfff) throw new CodeError('character', { utf8: true });
    if (cp >= 0xff01 && cp <= 0xff5e) {
      cp -= 0xfee0;
      ch = String.fromCodePoint(cp);
    }
    ch = lower(ch);
    if ((ch >= 'a' && ch <= 'z') || isDigitCh(ch)) put(ch);
    else if (ch === 'ä') put('ae');
    else if (ch === 'ö') put('oe');
    else if (ch === 'ü') put('ue');
    else if (ch === 'ß') put('ss');
    else if (ch === '\u0308') {
      if (sep || out.length === 0 || !'aou'.includes(out[out.length - 1])) throw new CodeError('character', { char: ch });
      out += 'e';
    } else if (isSeparator(ch)) sep = true;
    else if (IGNORABLE.has(ch.codePointAt(0))) {
      // invisible characters that copying drags along
    } else throw new CodeError('character', { char: ch });
  }
  return out;
}

function checkNameplate(n) {
  if (n === '' || !isDigitStr(n)) throw new CodeError('nameplate', { reason: 'missing' });
  if (n.length > MAX_NAMEPLATE_DIGITS) throw new CodeError('nameplate', { reason: 'digits' });
  if (n[0] === '0') throw new CodeError('nameplate', { reason: 'zero' });
}

/** split normalises s into its nameplate and words, checked for shape. */
function split(s) {
  if (typeof s !== 'string') throw new CodeError('empty');
  if (!wellFormed(s)) throw new CodeError('character', { utf8: true });
  if (utf8(s).length > MAX_INPUT) throw new CodeError('too-long');
  const ex = extract(s);
  if (!ex.valid) throw new CodeError('character', { utf8: true });
  const folded = fold(ex.text);
  if (folded === '') throw new CodeError('empty');
  const parts = folded.split('-');
  if (!isDigitStr(parts[0])) {
    const last = parts[parts.length - 1];
    if (isDigitStr(last)) {
      throw new CodeError('nameplate', { reason: 'first', hint: `${last}-${parts.slice(0, -1).join('-')}` });
    }
    throw new CodeError('nameplate', { reason: 'missing' });
  }
  checkNameplate(parts[0]);
  const words = parts.slice(1);
  if (words.some(isDigitStr)) throw new CodeError('character', { number: true });
  if (words.length !== WORD_COUNT) throw new CodeError('word-count', { count: words.length });
  return { nameplate: parts[0], words };
}

/**
 * osa is the optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions), or limit if it is limit or more.
 */
function osa(a, b, limit) {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev2 = new Array(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      cur[j] = v;
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= limit) return limit;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[b.length], limit);
}

/** Codes parses codes against the two word lists. */
export class Codes {
  /** @param {{en: string[], de: string[]}} lists */
  constructor(lists) {
    this.lists = lists;
    this.index = new Map();
    for (const l of ['en', 'de']) {
      lists[l].forEach((w, i) => this.index.set(w, { lang: l, index: i }));
    }
  }

  /**
   * parse reads a code as a person types or pastes it and returns
   * {nameplate, words, lang, code} (code is the canonical form, the CPace
   * password), or throws a CodeError.
   */
  parse(s) {
    const { nameplate, words } = split(s);
    const lang = this.langOf(words);
    if (lang) return { nameplate, words, lang, code: [nameplate, ...words].join('-') };
    throw this.#wordError(words);
  }

  /** canonical is parse without looking the words up. */
  canonical(s) {
    const { nameplate, words } = split(s);
    return [nameplate, ...words].join('-');
  }

  /** langOf returns the list ("en" or "de") that holds all words, or null. */
  langOf(words) {
    if (words.length === 0) return null;
    const first = this.index.get(words[0]);
    if (!first) return null;
    for (const w of words.slice(1)) {
      const e = this.index.get(w);
      if (!e || e.lang !== first.lang) return null;
    }
    return first.lang;
  }

  /** phrase is the check phrase: the words at idx in list lang (English if unknown). */
  phrase(lang, idx) {
    const list = this.lists[lang === 'de' ? 'de' : 'en'];
    return idx.map((i) => list[i & (LIST_SIZE - 1)]).join(' ');
  }

  /** nearest returns [distance, suggestions|null] of word in list l, as internal/code. */
  nearest(word, l) {
    let best = MAX_SUGGEST_DISTANCE + 1;
    let found = [];
    for (const w of this.lists[l]) {
      const d = osa(word, w, best + 1);
      if (d < best) {
        best = d;
        found = [w];
      } else if (d === best) found.push(w);
    }
    if (best > MAX_SUGGEST_DISTANCE) return [best, null];
    if (word !== '') {
      const rank = (x) => (x[0] !== word[0] ? 1 : 0);
      found = found.map((w, i) => [w, i]).sort((x, y) => rank(x[0]) - rank(y[0]) || x[1] - y[1]).map((x) => x[0]);
    }
    return [best, found.slice(0, MAX_SUGGESTIONS)];
  }

  #wordError(words) {
    const langs = ['en', 'de'];
    const nears = { en: [], de: [] };
    const known = { en: 0, de: 0 };
    const cost = { en: 0, de: 0 };
    let firstKnown = 'en';
    let haveFirst = false;
    for (const l of langs) {
      words.forEach((w, i) => {
        const e = this.index.get(w);
        if (e && !haveFirst) {
          firstKnown = e.lang;
          haveFirst = true;
        }
        if (e && e.lang === l) {
          known[l]++;
          return;
        }
        const [d, sugg] = this.nearest(w, l);
        nears[l][i] = sugg;
        cost[l] += d;
      });
    }
    let best = 'en';
    const l = 'de';
    if (
      known[l] > known[best] ||
      (known[l] === known[best] && cost[l] < cost[best]) ||
      (known[l] === known[best] && cost[l] === cost[best] && haveFirst && l === firstKnown)
    ) {
      best = l;
    }
    for (let i = 0; i < words.length; i++) {
      const e = this.index.get(words[i]);
      if (e && e.lang === best) continue;
      return new CodeError(e ? 'mixed-lists' : 'unknown-word', {
        word: words[i],
        position: i + 1,
        lang: best,
        suggestions: nears[best][i] ?? [],
      });
    }
    return new CodeError('unknown-word', { word: words[0], position: 1, lang: best, suggestions: [] });
  }
}
