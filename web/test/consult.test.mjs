import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  Consultation,
  cutName,
  ENTRY_COST,
  jsonLen,
  LINE_BREAK_COST,
  LineDecoder,
  MAX_LINE,
  MAX_SHARE_PIXELS,
  POINTER_BURST,
  POINTER_RATE,
  MAX_RECORD_JSON,
  MAX_RECORD_PDF,
  MAX_SHARE,
  ProtocolError,
  recordCost,
  validateHostMessage,
  WARN_SHARE,
} from '../src/consult.js';
import { SendHold } from '../src/hold.js';
import { toHex, utf8 } from '../src/bytes.js';
import { readJSON } from './helpers.mjs';

const enc = (s) => utf8(s);

test('line decoder: lines across and within messages', () => {
  const d = new LineDecoder();
  assert.deepEqual(d.push(enc('{"t":"a"}\n{"t":')), [{ t: 'a' }]);
  assert.deepEqual(d.push(enc('"b"')), []);
  assert.deepEqual(d.push(enc('}\n\n  \n{"t":"c","x":1}\n')), [{ t: 'b' }, { t: 'c', x: 1 }]);
  // A multi-byte character split between messages.
  const b = enc('{"t":"ü"}\n');
  assert.deepEqual(d.push(b.subarray(0, 8)), []);
  assert.deepEqual(d.push(b.subarray(8)), [{ t: 'ü' }]);
  // Byte by byte.
  const d2 = new LineDecoder();
  const all = [];
  for (const x of enc('{"t":"chat","text":"a\\nb"}\n')) all.push(...d2.push(Uint8Array.of(x)));
  assert.deepEqual(all, [{ t: 'chat', text: 'a\nb' }]);
});

test('line decoder: hostile input', () => {
  const bad = [
    enc('not json\n'),
    enc('[1,2]\n'),
    enc('"str"\n'),
    enc('null\n'),
    enc('{"t":5}\n'),
    enc('{}\n'),
    Uint8Array.of(0x7b, 0xff, 0x7d, 0x0a),
    Uint8Array.of(0xed, 0xa0, 0x80, 0x0a), // a UTF-8 encoded surrogate
  ];
  for (const b of bad) assert.throws(() => new LineDecoder().push(b), ProtocolError, toHex(b));
  // A line over 64 KiB, with or without its newline yet.
  const long = new Uint8Array(MAX_LINE + 1).fill(0x20);
  assert.throws(() => new LineDecoder().push(long), ProtocolError);
  const d = new LineDecoder();
  d.push(new Uint8Array(MAX_LINE - 10).fill(0x20));
  assert.throws(() => d.push(new Uint8Array(20).fill(0x20)), ProtocolError);
  // Exactly 64 KiB is fine.
  const okLine = enc('{"t":"x","p":"' + 'a'.repeat(MAX_LINE - 16) + '"}');
  assert.equal(okLine.length, MAX_LINE);
  assert.equal(new LineDecoder().push(new Uint8Array([...okLine, 0x0a])).length, 1);
  // Random bytes never throw anything but ProtocolError.
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(rnd() % 64).map(() => (rnd() % 4 === 0 ? 0x0a : rnd() % 256));
    try {
      new LineDecoder().push(b);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
});

test('host messages: validation', () => {
  const h = 'a'.repeat(64);
  const ok = [
    { t: 'hello', v: 1, role: 'host', name: 'Anna', lang: 'de', agent: 'direkt' },
    { t: 'chat', id: 'h1', text: 'hi\nthere', ts: 1 },
    { t: 'ask', id: 'h2', what: 'record' },
    { t: 'ask', id: 'h3', what: 'file', name: 'a.pdf', size: 0, sha256: h.toUpperCase() },
    { t: 'file', id: 'h3', name: 'a.pdf', size: 4 * 1024 ** 3, sha256: h, kind: 'record' },
    { t: 'file-ok', id: 'c1', ok: false },
    { t: 'withdraw', id: 'h2' },
    { t: 'rejoin', token: 'x', server: 'y' },
    { t: 'end' },
  ];
  for (const m of ok) assert.doesNotThrow(() => validateHostMessage(m), JSON.stringify(m));
  assert.equal(validateHostMessage(ok[3]).sha256, h, 'hashes are compared in lower case');
  // Control characters are shown as U+FFFD, never passed on.
  assert.equal(validateHostMessage({ t: 'hello', v: 1, role: 'host', name: 'a\u001b[2Jb' }).name, 'a\uFFFD[2Jb');
  assert.equal(validateHostMessage({ t: 'file', id: 'h1', name: 'a\nb', size: 1, sha256: h, kind: 'doc' }).name, 'a\uFFFDb');
  const bad = [
    { t: 'hello', v: 2, role: 'host' },
    { t: 'hello', v: 1, role: 'client' },
    { t: 'hello', v: 1, role: 'host', name: 'x'.repeat(101) },
    { t: 'hello', v: 1, role: 'host', name: 'a\uD800b' },
    { t: 'hello', v: 1, role: 'host', lang: 'fr' },
    { t: 'chat', id: 'h1', text: '', ts: 1 },
    { t: 'chat', id: 'h1', text: 'x'.repeat(4001), ts: 1 },
    { t: 'chat', id: 'h1', text: 'x' },
    { t: 'chat', id: '../x', text: 'x', ts: 1 },
    { t: 'chat', id: 'h1', text: 'a\uD800', ts: 1 },
    { t: 'ask', id: 'h2', what: 'control' },
    { t: 'ask', id: 'h2', what: 'file', name: 'a', size: -1, sha256: h },
    { t: 'ask', id: 'h2', what: 'file', name: 'a', size: 4 * 1024 ** 3 + 1, sha256: h },
    { t: 'ask', id: 'h2', what: 'file', name: 'a', size: 1.5, sha256: h },
    { t: 'ask', id: 'h2', what: 'file', name: 'a', size: 1, sha256: 'xyz' },
    { t: 'ask', id: 'h2', what: 'file', name: 'ä'.repeat(128), size: 1, sha256: h },
    { t: 'ask', id: 'h2', what: 'file', name: '', size: 1, sha256: h },
    { t: 'file', id: 'h3', name: 'a', size: 1, sha256: h, kind: 'exe' },
    { t: 'file', id: 'x'.repeat(33), name: 'a', size: 1, sha256: h, kind: 'doc' },
    { t: 'file-ok', id: 'c1', ok: 'yes' },
    { t: 'answer', id: 'h2', ok: true },
    { t: 'end', reason: 'x'.repeat(201) },
    { t: 'run', cmd: 'calc.exe' },
    { t: 'pointer', x: 1, y: 2 },
  ];
  for (const m of bad) assert.throws(() => validateHostMessage(m), ProtocolError, JSON.stringify(m).slice(0, 60));
});

test('file names are cut to 255 bytes and cleaned', () => {
  assert.equal(cutName('a.pdf'), 'a.pdf');
  assert.equal(cutName('a\nb.pdf'), 'a_b.pdf');
  assert.equal(cutName(''), 'file');
  const long = cutName('ü'.repeat(300) + '.pdf');
  assert.ok(utf8(long).length <= 255 && long.endsWith('.pdf'));
});

// A data channel in memory, with the parts of RTCDataChannel the client uses.
class Chan extends EventTarget {
  constructor(label) {
    super();
    this.label = label;
    this.readyState = 'open';
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    this.sent = [];
    this.onmessage = null;
    this.onclose = null;
    this.onopen = null;
  }
  send(b) {
    if (this.readyState !== 'open') throw new Error('closed');
    this.sent.push(typeof b === 'string' ? b : new TextDecoder().decode(b));
  }
  close() {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.onclose?.();
    this.dispatchEvent(new Event('close'));
  }
  deliver(bytes) {
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
  line(m) {
    this.deliver(utf8(JSON.stringify(m) + '\n'));
  }
  lines() {
    return this.sent.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }
}

class FakeSession {
  constructor() {
    this.hold = new SendHold();
    this.closed = false;
    this.done = [];
    this.opened = [];
  }
  set onchannel(f) {
    this.add = f;
  }
  ondone(f) {
    this.done.push(f);
  }
  createChannel(label) {
    const c = new Chan(label);
    this.opened.push(c);
    return c;
  }
  get maxMessageSize() {
    return 16 << 10;
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.done) f(null);
  }
}

function setup() {
  const session = new FakeSession();
  const c = new Consultation({ session, name: 'Bernd', lang: 'de', agent: 'test', makeURL: () => 'blob:test' });
  const ctl = new Chan('consult');
  session.add(ctl);
  ctl.line({ t: 'hello', v: 1, role: 'host', name: 'Anna', lang: 'de' });
  return { session, c, ctl };
}

test('consultation: hello both ways, chat, record consent', () => {
  const { c, ctl } = setup();
  assert.equal(c.state.phase, 'connected');
  assert.equal(c.state.host.name, 'Anna');
  assert.deepEqual(ctl.lines()[0], { t: 'hello', v: 1, role: 'client', name: 'Bernd', lang: 'de', agent: 'test' });
  ctl.line({ t: 'chat', id: 'h1', text: 'Hallo', ts: 5 });
  assert.equal(c.state.chat[0].text, 'Hallo');
  assert.ok(c.sendChat('  Guten Tag  '));
  assert.equal(ctl.lines()[1].text, 'Guten Tag');
  ctl.line({ t: 'ask', id: 'h2', what: 'record' });
  assert.equal(c.state.recording, 'asked');
  c.answer('h2', true);
  assert.deepEqual(ctl.lines()[2], { t: 'answer', id: 'h2', ok: true });
  assert.equal(c.state.recording, 'accepted');
  c.answer('h2', false); // answered already: nothing more is sent
  assert.equal(ctl.lines().length, 3);
});

test('consultation: nothing from the host is taken in without consent', () => {
  const { session, c, ctl } = setup();
  const data = utf8('hello file');
  const sum = toHex(sha256(data));
  // No ask at all: the announcement and the channel are refused, nothing shown.
  ctl.line({ t: 'file', id: 'h5', name: 'x.bin', size: data.length, sha256: sum, kind: 'doc' });
  const ch = new Chan('file/h5');
  session.add(ch);
  assert.equal(ch.readyState, 'closed');
  assert.equal(c.state.files.length, 0);
  // A record file without record consent: refused.
  ctl.line({ t: 'file', id: 'h6', name: 'r.pdf', size: 1, sha256: sum, kind: 'record' });
  assert.equal(c.state.files.length, 0);
  // Asked and declined: refused.
  ctl.line({ t: 'ask', id: 'h7', what: 'file', name: 'a.pdf', size: data.length, sha256: sum });
  c.answer('h7', false);
  ctl.line({ t: 'file', id: 'h7', name: 'a.pdf', size: data.length, sha256: sum, kind: 'doc' });
  assert.equal(c.state.files.length, 0);
  // Accepted, but announced with another size: refused.
  ctl.line({ t: 'ask', id: 'h8', what: 'file', name: 'a.pdf', size: data.length, sha256: sum });
  c.answer('h8', true);
  ctl.line({ t: 'file', id: 'h8', name: 'a.pdf', size: data.length + 1, sha256: sum, kind: 'doc' });
  assert.equal(c.state.files.length, 0);
  // A channel without the h prefix: refused.
  const odd = new Chan('file/c1');
  session.add(odd);
  assert.equal(odd.readyState, 'closed');
  const other = new Chan('screen');
  session.add(other);
  assert.equal(other.readyState, 'closed');
  assert.equal(c.state.phase, 'connected');
});

test('consultation: an accepted file is verified; a wrong hash or size is refused', () => {
  const { session, c, ctl } = setup();
  const data = new Uint8Array(100000).map((_, i) => i & 0xff);
  const sum = toHex(sha256(data));
  const offer = (id, size = data.length, hash = sum) => {
    ctl.line({ t: 'ask', id, what: 'file', name: `${id}.pdf`, size, sha256: hash });
    c.answer(id, true);
    ctl.line({ t: 'file', id, name: `${id}.pdf`, size, sha256: hash, kind: 'doc' });
    const ch = new Chan(`file/${id}`);
    session.add(ch);
    return ch;
  };
  const verdict = (id) => ctl.lines().find((m) => m.t === 'file-ok' && m.id === id);

  const good = offer('h1');
  for (let i = 0; i < data.length; i += 16384) good.deliver(data.subarray(i, i + 16384));
  good.close();
  const f1 = c.state.files.find((f) => f.id === 'h1');
  assert.equal(f1.state, 'done');
  assert.equal(f1.got, sum);
  assert.equal(f1.url, 'blob:test');
  assert.deepEqual(verdict('h1'), { t: 'file-ok', id: 'h1', ok: true, sha256: sum });

  const tampered = offer('h2');
  const bad = data.slice();
  bad[500] ^= 1;
  tampered.deliver(bad);
  assert.equal(c.state.files.find((f) => f.id === 'h2').state, 'failed');
  assert.equal(verdict('h2').ok, false);
  assert.equal(c.state.files.find((f) => f.id === 'h2').url, '');

  const long = offer('h3', 10, toHex(sha256(data.subarray(0, 10))));
  long.deliver(data.subarray(0, 11));
  assert.equal(c.state.files.find((f) => f.id === 'h3').state, 'failed');
  assert.equal(long.readyState, 'closed');

  const short = offer('h4');
  short.deliver(data.subarray(0, 10));
  short.close();
  assert.equal(c.state.files.find((f) => f.id === 'h4').state, 'failed');
  assert.equal(verdict('h4').ok, false);
});

test('consultation: a file channel that overtakes its announcement waits for it', () => {
  const { session, c, ctl } = setup();
  const data = utf8('record bytes');
  const sum = toHex(sha256(data));
  ctl.line({ t: 'ask', id: 'h1', what: 'record' });
  c.answer('h1', true);
  const ch = new Chan('file/h9');
  session.add(ch); // before its "file" line
  ch.deliver(data);
  assert.equal(ch.readyState, 'open');
  ctl.line({ t: 'file', id: 'h9', name: 'rec.json', size: data.length, sha256: sum, kind: 'record' });
  const f = c.state.files.find((x) => x.id === 'h9');
  assert.equal(f.state, 'done');
  assert.equal(f.kind, 'record');
});

test('consultation: protocol errors end it', () => {
  for (const first of [{ t: 'chat', id: 'h1', text: 'x', ts: 1 }, { t: 'answer', id: 'x', ok: true }]) {
    const session = new FakeSession();
    const c = new Consultation({ session, name: 'B', lang: 'en' });
    const ctl = new Chan('consult');
    session.add(ctl);
    ctl.line(first);
    assert.equal(c.state.phase, 'failed');
    assert.equal(c.state.error, 'protocol');
    assert.ok(session.closed);
  }
  const { session, c, ctl } = setup();
  ctl.line({ t: 'hello', v: 1, role: 'host', name: 'again' });
  assert.equal(c.state.phase, 'failed');
  assert.deepEqual(ctl.lines().at(-1), { t: 'end', reason: 'protocol error' });
  assert.ok(session.closed);
});

test('consultation: end from either side', () => {
  {
    const { session, c, ctl } = setup();
    c.end();
    assert.deepEqual(ctl.lines().at(-1), { t: 'end', reason: 'client' });
    assert.equal(c.state.phase, 'ended');
    assert.ok(session.closed);
  }
  {
    const { session, c, ctl } = setup();
    ctl.line({ t: 'ask', id: 'h1', what: 'record' });
    c.answer('h1', true);
    const data = utf8('{"v":1}');
    ctl.line({ t: 'file', id: 'h2', name: 'r.json', size: data.length, sha256: toHex(sha256(data)), kind: 'record' });
    ctl.line({ t: 'end', reason: 'done' });
    assert.equal(c.state.phase, 'ended');
    assert.ok(!session.closed, 'the announced record is still taken in');
    const ch = new Chan('file/h2');
    session.add(ch);
    ch.deliver(data);
    assert.equal(c.state.files[0].state, 'done');
    assert.ok(session.closed);
  }
});

test('consultation: sending a file hashes, announces, streams, closes', async () => {
  const { session, c, ctl } = setup();
  const data = new Uint8Array(3 * (1 << 20) + 123).map((_, i) => (i * 7) & 0xff);
  const file = new File([data], 'bericht.pdf');
  const p = c.sendFile(file);
  // The channel is opened after hashing; open it when it appears.
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  const ch = session.opened[0];
  const got = [];
  ch.send = (b) => got.push(b.slice());
  ch.onopen();
  await p;
  const ann = ctl.lines().find((m) => m.t === 'file');
  assert.deepEqual(ann, { t: 'file', id: ann.id, name: 'bericht.pdf', size: data.length, sha256: toHex(sha256(data)), kind: 'doc' });
  assert.equal(ch.label, `file/${ann.id}`);
  assert.ok(ann.id.startsWith('c'));
  assert.ok(got.every((b) => b.length <= 16 << 10));
  const all = new Uint8Array(got.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of got) {
    all.set(b, o);
    o += b.length;
  }
  assert.equal(toHex(sha256(all)), ann.sha256);
  assert.equal(ch.readyState, 'closed');
  assert.equal(c.state.files[0].state, 'sent');
  ctl.line({ t: 'file-ok', id: ann.id, ok: true, sha256: ann.sha256 });
  assert.equal(c.state.files[0].state, 'done');
});

test('consultation: while sends are held, chat and answers wait and go out once, in order', () => {
  const { session, c, ctl } = setup();
  ctl.line({ t: 'ask', id: 'h1', what: 'record', text: 'Aufzeichnen?' });
  const before = ctl.lines().length;
  session.hold.hold('reconnecting');
  assert.ok(c.sendChat('eins'), 'a held message counts as sent');
  c.answer('h1', true);
  assert.ok(c.sendChat('zwei'));
  assert.equal(ctl.lines().length, before, 'nothing reaches the channel while held');
  assert.deepEqual(
    c.state.chat.map((m) => m.text),
    ['eins', 'zwei'],
    'the page shows them at once',
  );
  session.hold.release();
  const out = ctl.lines().slice(before);
  assert.deepEqual(
    out.map((m) => m.text ?? m.t),
    ['eins', 'answer', 'zwei'],
  );
  session.hold.release();
  assert.equal(ctl.lines().length, before + 3, 'each once');
});

test('consultation: a held session pauses the upload pump; it goes on, intact, after the release', async () => {
  const { session, c, ctl } = setup();
  const data = new Uint8Array(2 * (1 << 20) + 5).map((_, i) => (i * 13) & 0xff);
  const p = c.sendFile(new File([data], 'scan.bin'));
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  const ch = session.opened[0];
  const got = [];
  let held = false;
  ch.send = (b) => {
    assert.equal(held, false, 'no chunk is written while held');
    got.push(b.slice());
    // Hold after the first chunk, as a lost path would.
    if (got.length === 1) {
      held = true;
      session.hold.hold('suspect');
    }
  };
  ch.onopen();
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(got.length, 1, 'the pump waits');
  assert.equal(session.hold.queued, 0, 'and piles nothing up in the hold');
  c.sendChat('währenddessen');
  held = false;
  session.hold.release();
  await p;
  const all = new Uint8Array(got.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of got) {
    all.set(b, o);
    o += b.length;
  }
  assert.equal(toHex(sha256(all)), toHex(sha256(data)));
  assert.equal(ch.readyState, 'closed');
  assert.ok(ctl.lines().some((m) => m.text === 'währenddessen'));
});

test('consultation: ending while held sends what waits, then the end', () => {
  const { session, c, ctl } = setup();
  session.hold.hold('reconnecting');
  c.sendChat('letzte');
  c.end();
  const out = ctl.lines().filter((m) => m.t !== 'hello');
  assert.deepEqual(
    out.map((m) => m.t),
    ['chat', 'end'],
  );
});

test('golden: what a message costs in a share, as internal/consult.RecordCost', () => {
  const tab = readJSON('testdata/record-cost-v1.json');
  assert.equal(tab.max_share, MAX_SHARE);
  assert.equal(tab.warn_share, WARN_SHARE);
  assert.equal(tab.entry_cost, ENTRY_COST);
  assert.equal(tab.line_break_cost, LINE_BREAK_COST);
  assert.ok(tab.cases.length >= 20);
  for (const c of tab.cases) {
    assert.equal(recordCost(c.name, c.text.repeat(c.repeat ?? 1)), c.cost, c.why);
  }
});

test('jsonLen: JSON.stringify plus what Go escapes beyond it', () => {
  // For well-formed text, Go writes what JSON.stringify writes, except that
  // it escapes <, > and & (6 bytes instead of 1) and U+2028, U+2029 (6
  // instead of 3).
  const alphabet = ['a', 'ß', '€', '😀', '<', '>', '&', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u001f', '\u007f', '\u0085', '\u2028', '\u2029', '\ufffd', '\ufeff', ' '];
  let seed = 7;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let j = rnd(40); j > 0; j--) s += alphabet[rnd(alphabet.length)];
    const extra = 5 * (s.match(/[<>&]/g) ?? []).length + 3 * (s.match(/[\u2028\u2029]/g) ?? []).length;
    assert.equal(jsonLen(s), utf8(JSON.stringify(s)).length + extra, JSON.stringify(s));
  }
  // A lone surrogate is U+FFFD to Go: three bytes.
  assert.equal(jsonLen('\ud800'), 5);
  assert.equal(jsonLen('\udbff\udfff'), 6);
});

test('consultation: our own message that would pass our share is refused, not sent', () => {
  const { c, ctl } = setup();
  const long = '<'.repeat(4000);
  const cost = recordCost('Bernd', long);
  let sent = 0;
  let near = -1;
  while (c.sendChat(long)) {
    sent++;
    if (near < 0 && c.state.share.used >= WARN_SHARE) near = sent;
  }
  assert.equal(sent, Math.floor(MAX_SHARE / cost));
  assert.equal(near, Math.ceil(WARN_SHARE / cost));
  assert.equal(c.state.share.used, sent * cost);
  assert.ok(c.state.share.refused);
  assert.equal(ctl.lines().filter((m) => m.t === 'chat').length, sent, 'the refused message never left');
  assert.equal(c.state.chat.length, sent);
  // A short message still fits where the long one did not, and clears the refusal.
  assert.ok(c.sendChat('Danke.'));
  assert.equal(c.state.share.refused, false);
  assert.equal(c.state.share.used, sent * cost + recordCost('Bernd', 'Danke.'));
  assert.equal(c.state.phase, 'connected');
});

test('consultation: the share counts the name and text as the host reads them', () => {
  const session = new FakeSession();
  const name = 'B\u0007<' + '&'.repeat(200); // cut to 100 bytes, control character dropped
  const c = new Consultation({ session, name, lang: 'de' });
  const ctl = new Chan('consult');
  session.add(ctl);
  ctl.line({ t: 'hello', v: 1, role: 'host', name: 'Anna', lang: 'de' });
  const sentName = ctl.lines()[0].name;
  assert.equal(sentName, 'B<' + '&'.repeat(98));
  assert.ok(c.sendChat('  a\ud800\n  '));
  const m = ctl.lines().at(-1);
  assert.equal(m.text, 'a\ufffd');
  assert.equal(c.state.share.used, recordCost(sentName, 'a\ufffd'));
});

test('consultation: a record file larger than the host can make is refused, visibly', () => {
  const { session, c, ctl } = setup();
  ctl.line({ t: 'ask', id: 'h1', what: 'record' });
  c.answer('h1', true);
  const sum = 'a'.repeat(64);
  const verdict = (id) => ctl.lines().find((m) => m.t === 'file-ok' && m.id === id);
  // The signed JSON at its limit is taken; one byte more is not.
  ctl.line({ t: 'file', id: 'h2', name: 'r.json', size: MAX_RECORD_JSON + 1, sha256: sum, kind: 'record' });
  const f = c.state.files.find((x) => x.id === 'h2');
  assert.equal(f.state, 'refused');
  assert.equal(f.max, MAX_RECORD_JSON);
  assert.deepEqual(verdict('h2'), { t: 'file-ok', id: 'h2', ok: false });
  const ch = new Chan('file/h2');
  session.add(ch);
  assert.equal(ch.readyState, 'closed', 'its channel is closed unread');
  // The PDF's limit is MaxPDF; a channel that came first is closed too.
  const early = new Chan('file/h3');
  session.add(early);
  ctl.line({ t: 'file', id: 'h3', name: 'r.pdf', size: MAX_RECORD_PDF + 1, sha256: sum, kind: 'record' });
  assert.equal(early.readyState, 'closed');
  assert.equal(c.state.files.find((x) => x.id === 'h3').state, 'refused');
  assert.equal(verdict('h3').ok, false);
  assert.equal(c.state.phase, 'connected');
});

test('consultation: a record is one JSON and one PDF within their limits', () => {
  const { c, ctl } = setup();
  ctl.line({ t: 'ask', id: 'h1', what: 'record' });
  c.answer('h1', true);
  const sum = 'a'.repeat(64);
  ctl.line({ t: 'file', id: 'h2', name: 'r.json', size: MAX_RECORD_JSON, sha256: sum, kind: 'record' });
  ctl.line({ t: 'file', id: 'h3', name: 'R.PDF', size: MAX_RECORD_PDF, sha256: sum, kind: 'record' });
  ctl.line({ t: 'file', id: 'h4', name: 'r2.json', size: 10, sha256: sum, kind: 'record' });
  ctl.line({ t: 'file', id: 'h5', name: 'r.exe', size: 10, sha256: sum, kind: 'record' });
  assert.deepEqual(
    c.state.files.map((f) => [f.id, f.state]),
    [
      ['h2', 'receiving'],
      ['h3', 'receiving'],
    ],
  );
});

// Resuming over a new connection (docs/consult.md, "Resuming"): the old
// consult channel dies without an "end", the session rebuilds, the host
// opens "consult" on the new connection; both send "resume" and each
// resends what the other did not get.
function rebuildable() {
  const { session, c, ctl } = setup();
  session.rebuilds = true;
  session.lostWhy = [];
  session.lost = (why) => session.lostWhy.push(why);
  return { session, c, ctl };
}

test('consultation: resumes over a new consult channel, every line once', () => {
  const { session, c, ctl } = rebuildable();
  ctl.line({ t: 'chat', id: 'h1', text: 'one', ts: 1 }); // host line 1 (hello is 0)
  assert.ok(c.sendChat('before')); // our line 1
  // The old channel dies; the consultation goes on, the session rebuilds.
  ctl.close();
  assert.deepEqual(session.lostWhy, ['consult channel closed']);
  assert.equal(c.state.phase, 'connected');
  assert.ok(c.sendChat('while away')); // our line 2: waits
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  // Ours first: we got 2 host lines, queued 3.
  assert.deepEqual(ctl2.lines(), [{ t: 'resume', got: 2, sent: 3 }]);
  // The host got our hello only ("before" was lost in flight); it had
  // queued 3 lines, "two" never reached us.
  ctl2.line({ t: 'resume', got: 1, sent: 3 });
  assert.deepEqual(
    ctl2.lines().slice(1).map((m) => m.text),
    ['before', 'while away'],
  );
  ctl2.line({ t: 'chat', id: 'h2', text: 'two', ts: 2 });
  ctl2.line({ t: 'chat', id: 'h3', text: 'three', ts: 3 });
  assert.deepEqual(
    c.state.chat.map((m) => m.text),
    ['one', 'before', 'while away', 'two', 'three'],
  );
  assert.ok(c.sendChat('after'));
  assert.equal(ctl2.lines().at(-1).text, 'after');
  assert.equal(ctl2.lines().length, 4);
  // A second rebuild counts from where the first left off.
  ctl2.close();
  const ctl3 = new Chan('consult');
  session.add(ctl3);
  assert.deepEqual(ctl3.lines(), [{ t: 'resume', got: 4, sent: 4 }]);
  ctl3.line({ t: 'resume', got: 4, sent: 4 });
  assert.equal(ctl3.lines().length, 1); // nothing to resend
});

test('consultation: a resumed channel must begin with resume, and resume only there', () => {
  {
    const { session, c, ctl } = rebuildable();
    ctl.close();
    const ctl2 = new Chan('consult');
    session.add(ctl2);
    ctl2.line({ t: 'chat', id: 'h2', text: 'x', ts: 2 });
    assert.equal(c.state.phase, 'failed');
  }
  {
    const { c, ctl } = rebuildable();
    ctl.line({ t: 'resume', got: 0, sent: 0 });
    assert.equal(c.state.phase, 'failed');
  }
  {
    // The host cannot have got more than we queued.
    const { session, c, ctl } = rebuildable();
    ctl.close();
    const ctl2 = new Chan('consult');
    session.add(ctl2);
    ctl2.line({ t: 'resume', got: 5, sent: 1 });
    assert.equal(c.state.phase, 'failed');
  }
});

test('consultation: files in flight fail when the connection is rebuilt until offered again; a verdict on its way still counts', async () => {
  const { session, c, ctl } = rebuildable();
  const data = utf8('some bytes of a document');
  const sum = toHex(sha256(data));
  // A host file, accepted and half received.
  ctl.line({ t: 'ask', id: 'h2', what: 'file', name: 'a.pdf', size: data.length, sha256: sum });
  c.answer('h2', true);
  ctl.line({ t: 'file', id: 'h2', name: 'a.pdf', size: data.length, sha256: sum, kind: 'doc' });
  const fc = new Chan('file/h2');
  session.add(fc);
  fc.deliver(data.subarray(0, 5));
  // Our file, sent completely, its verdict not yet here.
  const p = c.sendFile(new File([data], 'b.txt'));
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  session.opened[0].onopen();
  await p;
  const mine = c.state.files.find((f) => f.from === 'client');
  assert.equal(mine.state, 'sent');
  ctl.close();
  fc.close();
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  const theirs = c.state.files.find((f) => f.from === 'host');
  assert.equal(theirs.state, 'failed');
  assert.equal(mine.state, 'failed');
  // The host had our file: its verdict was queued before the rebuild.
  const sent = ctl2.lines()[0].sent;
  ctl2.line({ t: 'resume', got: sent, sent: c.got + 1 });
  ctl2.line({ t: 'file-ok', id: mine.id, ok: true, sha256: sum });
  assert.equal(mine.state, 'done');
  // A host file announced before the rebuild and sent again fails at once.
  const fresh = new Chan('consult');
  ctl2.close();
  session.add(fresh);
  fresh.line({ t: 'resume', got: fresh.lines()[0].sent, sent: c.got + 2 });
  fresh.line({ t: 'ask', id: 'h9', what: 'file', name: 'c.pdf', size: data.length, sha256: sum });
  c.answer('h9', true);
  fresh.line({ t: 'file', id: 'h9', name: 'c.pdf', size: data.length, sha256: sum, kind: 'doc' });
  const h9 = c.state.files.find((f) => f.id === 'h9');
  assert.equal(h9.state, 'failed');
  // The host offers it again; its channel comes first and waits.
  const fc9 = new Chan('file/h9');
  session.add(fc9);
  assert.equal(fc9.readyState, 'open');
  fresh.line({ t: 'file', id: 'h9', name: 'c.pdf', size: data.length, sha256: sum, kind: 'doc' });
  assert.equal(h9.state, 'receiving');
  fc9.deliver(data);
  assert.equal(h9.state, 'done');
  assert.equal(c.state.files.filter((f) => f.id === 'h9').length, 1);
  // Our file, done by the verdict that was on its way, is not sent again.
  assert.equal(fresh.lines().filter((m) => m.t === 'file').length, 0);
  assert.equal(session.opened.length, 1);
});

test('consultation: without a host that rebuilds, a closed consult channel ends it', () => {
  const { session, c, ctl } = setup();
  ctl.close();
  assert.equal(c.state.phase, 'ended');
  assert.equal(c.state.endReason, 'lost');
  assert.ok(session.closed);
});

test('consultation: the old consult channel closing late starts no second rebuild', () => {
  const session = new FakeSession();
  session.rebuilds = true;
  session.lostWhy = [];
  session.lost = (why) => session.lostWhy.push(why);
  session.link = 'first';
  const c = new Consultation({ session, name: 'Bernd', lang: 'de' });
  const ctl = new Chan('consult');
  session.add(ctl);
  ctl.line({ t: 'hello', v: 1, role: 'host', name: 'Anna', lang: 'de' });
  // The session replaced its connection; the old channel reports its
  // close only now, before the host's new consult channel came.
  session.link = 'second';
  ctl.close();
  assert.deepEqual(session.lostWhy, []);
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  ctl2.line({ t: 'resume', got: 1, sent: 1 });
  assert.equal(c.state.phase, 'connected');
  // The new channel's own close does start one.
  ctl2.close();
  assert.deepEqual(session.lostWhy, ['consult channel closed']);
});

// A file in flight when the connection is rebuilt is offered again by its
// sender, under its id, once the sender has every line the receiver had
// queued at its "resume" (docs/consult.md, "Resuming").
test('consultation: our file in flight is offered again after the rebuild and arrives once', async () => {
  const { session, c, ctl } = rebuildable();
  const data = new Uint8Array(40 << 10).map((_, i) => i * 7);
  const sum = toHex(sha256(data));
  const p = c.sendFile(new File([data], 'up.bin'));
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  session.opened[0].onopen();
  await p;
  const f = c.state.files[0];
  assert.equal(f.state, 'sent');
  // The connection goes before the host's verdict.
  ctl.close();
  session.opened[0].close();
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  assert.equal(f.state, 'failed');
  assert.ok(f.rebuilt);
  const ours = ctl2.lines()[0];
  // The host got our "file" line; it had one more line queued: its "no"
  // for the attempt the old connection cut off. Nothing goes out again
  // before that line is here.
  ctl2.line({ t: 'resume', got: ours.sent, sent: c.got + 1 });
  assert.equal(session.opened.length, 1);
  assert.equal(ctl2.lines().length, 1);
  ctl2.line({ t: 'file-ok', id: f.id, ok: false, sha256: '' });
  // Now it goes out again: the same "file" line, a new channel, all bytes.
  assert.deepEqual(ctl2.lines().slice(1), [{ t: 'file', id: f.id, name: 'up.bin', size: data.length, sha256: sum, kind: 'doc' }]);
  assert.equal(f.state, 'sending');
  assert.equal(f.resent, 1);
  while (session.opened.length < 2) await new Promise((r) => setTimeout(r, 1));
  const fc2 = session.opened[1];
  assert.equal(fc2.label, `file/${f.id}`);
  fc2.onopen();
  while (f.state === 'sending') await new Promise((r) => setTimeout(r, 1));
  assert.equal(f.state, 'sent');
  const got = fc2.sent.join('');
  assert.equal(got.length > 0, true);
  ctl2.line({ t: 'file-ok', id: f.id, ok: true, sha256: sum });
  assert.equal(f.state, 'done');
  assert.equal(c.state.files.length, 1);
  // The old channel's attempt sent nothing after the rebuild.
  assert.equal(session.opened[0].readyState, 'closed');
});

test('consultation: our file is offered again at most three times', async () => {
  const { session, c, ctl } = rebuildable();
  const data = utf8('a small document');
  const p = c.sendFile(new File([data], 'b.txt'));
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  session.opened[0].onopen();
  await p;
  const f = c.state.files[0];
  let ch = ctl;
  for (let i = 1; i <= 4; i++) {
    ch.close();
    const next = new Chan('consult');
    session.add(next);
    next.line({ t: 'resume', got: next.lines()[0].sent, sent: c.got });
    ch = next;
    if (i <= 3) {
      assert.equal(f.state, 'sending', `rebuild ${i}`);
      assert.equal(f.resent, i);
      while (session.opened.length < i + 1) await new Promise((r) => setTimeout(r, 1));
      session.opened[i].onopen();
      while (f.state === 'sending') await new Promise((r) => setTimeout(r, 1));
    }
  }
  assert.equal(f.state, 'failed');
  assert.ok(f.gaveUp);
  assert.equal(f.resent, 3);
  assert.equal(session.opened.length, 4);
});

test('consultation: a host file in flight is taken again when the host offers it again, once', () => {
  const { session, c, ctl } = rebuildable();
  const data = utf8('the adviser sends this document');
  const sum = toHex(sha256(data));
  ctl.line({ t: 'ask', id: 'h2', what: 'file', name: 'a.pdf', size: data.length, sha256: sum });
  c.answer('h2', true);
  const announce = { t: 'file', id: 'h2', name: 'a.pdf', size: data.length, sha256: sum, kind: 'doc' };
  ctl.line(announce);
  const fc = new Chan('file/h2');
  session.add(fc);
  fc.deliver(data.subarray(0, 5));
  // The connection goes: the channel closes first, the page sees a file
  // cut off, and says no to that attempt.
  fc.close();
  ctl.close();
  const f = c.state.files[0];
  assert.equal(f.state, 'failed');
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  assert.ok(f.rebuilt);
  ctl2.line({ t: 'resume', got: ctl2.lines()[0].sent, sent: c.got });
  // The new channel overtakes the host's "file" line; it waits for it.
  const fc2 = new Chan('file/h2');
  session.add(fc2);
  assert.equal(fc2.readyState, 'open');
  fc2.deliver(data.subarray(0, 10));
  ctl2.line(announce);
  assert.equal(f.state, 'receiving');
  assert.equal(f.resent, 1);
  fc2.deliver(data.subarray(10));
  assert.equal(f.state, 'done');
  assert.equal(f.got, sum);
  assert.equal(c.state.files.length, 1);
  const verdicts = [...ctl.lines(), ...ctl2.lines()].filter((m) => m.t === 'file-ok');
  assert.deepEqual(verdicts.at(-1), { t: 'file-ok', id: 'h2', ok: true, sha256: sum });
  assert.equal(c.state.phase, 'connected');
  // A third "file" for it now is refused: it is done.
  const fc3 = new Chan('file/h2');
  session.add(fc3);
  assert.equal(fc3.readyState, 'closed');
});

test('consultation: a host re-offer must be the file consented to, on the new connection', () => {
  const { session, c, ctl } = rebuildable();
  const data = utf8('the adviser sends this document');
  const sum = toHex(sha256(data));
  ctl.line({ t: 'ask', id: 'h2', what: 'file', name: 'a.pdf', size: data.length, sha256: sum });
  c.answer('h2', true);
  ctl.line({ t: 'file', id: 'h2', name: 'a.pdf', size: data.length, sha256: sum, kind: 'doc' });
  // Without a rebuild, a second "file" for the id is refused.
  ctl.line({ t: 'file', id: 'h2', name: 'a.pdf', size: data.length, sha256: sum, kind: 'doc' });
  const f = c.state.files[0];
  assert.equal(f.state, 'receiving');
  ctl.close();
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  ctl2.line({ t: 'resume', got: ctl2.lines()[0].sent, sent: c.got });
  // Another file under the consented id: refused, nothing taken in.
  ctl2.line({ t: 'file', id: 'h2', name: 'a.pdf', size: data.length, sha256: 'b'.repeat(64), kind: 'doc' });
  assert.equal(f.state, 'failed');
  const fc = new Chan('file/h2');
  session.add(fc);
  assert.equal(fc.readyState, 'open'); // may still be the re-offer's
  ctl2.line({ t: 'file', id: 'h2', name: 'other.pdf', size: data.length, sha256: sum, kind: 'doc' });
  assert.equal(f.state, 'failed');
  assert.equal(c.state.files.length, 1);
  assert.equal(c.state.phase, 'connected');
});

test('consultation: a file sent while the new channel waits for the host resume goes out normally', async () => {
  const { session, c, ctl } = rebuildable();
  ctl.close();
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  const data = utf8('sent between the two resumes');
  const sum = toHex(sha256(data));
  const p = c.sendFile(new File([data], 'mid.txt'));
  while (!session.opened.length) await new Promise((r) => setTimeout(r, 1));
  const f = c.state.files[0];
  assert.equal(f.state, 'sending');
  // Its "file" line waits for the host's "resume", then goes out once.
  assert.equal(ctl2.lines().length, 1);
  ctl2.line({ t: 'resume', got: ctl2.lines()[0].sent, sent: c.got });
  assert.deepEqual(
    ctl2.lines().filter((m) => m.t === 'file').map((m) => m.id),
    [f.id],
  );
  session.opened[0].onopen();
  await p;
  assert.equal(f.state, 'sent');
  ctl2.line({ t: 'file-ok', id: f.id, ok: true, sha256: sum });
  assert.equal(f.state, 'done');
  assert.equal(f.resent, undefined);
});

// Screen sharing (docs/screen.md, "Control messages"): the host's share
// only with our consent, ours on our own initiative; state.screen as the
// join page reads it.
const hostShare = (id, state, what = 'screen', w = 1920, h = 1080) => ({ t: 'share', id, state, what, w, h });
const screenAccepted = (c, ctl, id = 'h1') => {
  ctl.line({ t: 'ask', id, what: 'screen' });
  c.answer(id, true);
};

test('host messages: share, pointer and view are validated', () => {
  const ok = [
    hostShare('h1', 'on'),
    hostShare('h1', 'paused', 'tab', 0, MAX_SHARE_PIXELS),
    hostShare('h1', 'off', 'other', 0, 0),
    { t: 'pointer', id: 'h1', x: 0, y: 1 },
    { t: 'pointer', id: 'h1', x: 0.5, y: 0.25 },
    { t: 'pointer', id: 'h1' },
    { t: 'pointer', id: 'h1', x: null, y: null },
    { t: 'view', id: 'c1', on: false },
  ];
  for (const m of ok) assert.doesNotThrow(() => validateHostMessage(m), JSON.stringify(m));
  assert.deepEqual(validateHostMessage({ t: 'pointer', id: 'h1', x: 0.5, y: 0.25 }), { t: 'pointer', id: 'h1', hide: false, x: 0.5, y: 0.25 });
  assert.equal(validateHostMessage({ t: 'pointer', id: 'h1' }).hide, true);
  const bad = [
    hostShare('h1', 'running'),
    hostShare('h1', 'on', 'camera'),
    { t: 'share', id: 'h1', state: 'on', w: 1, h: 1 },
    hostShare('h1', 'on', 'screen', -1, 1),
    hostShare('h1', 'on', 'screen', 1, MAX_SHARE_PIXELS + 1),
    hostShare('h1', 'on', 'screen', 1.5, 1),
    hostShare('h1', 'on', 'screen', '1', 1),
    hostShare('h1', 'on', 'screen', 1, null),
    { t: 'share', id: 'h1', state: 'on', what: 'screen' },
    hostShare('h/1', 'on'),
    hostShare('', 'on'),
    { t: 'pointer', id: 'h1', x: 0.5 },
    { t: 'pointer', id: 'h1', y: 0.5 },
    { t: 'pointer', id: 'h1', x: 1.01, y: 0 },
    { t: 'pointer', id: 'h1', x: -0.01, y: 0 },
    { t: 'pointer', id: 'h1', x: 0, y: Infinity },
    { t: 'pointer', id: 'h1', x: NaN, y: 0 },
    { t: 'pointer', id: 'h1', x: '0.5', y: 0 },
    { t: 'pointer', x: 0.5, y: 0.5 },
    { t: 'view', id: 'c1' },
    { t: 'view', id: 'c1', on: 'yes' },
    { t: 'view', id: 'c/1', on: true },
  ];
  for (const m of bad) assert.throws(() => validateHostMessage(m), ProtocolError, JSON.stringify(m));
  // A number too large for a double is Infinity in JavaScript, as Go refuses it.
  assert.throws(() => validateHostMessage(JSON.parse('{"t":"pointer","id":"h1","x":1e999,"y":0}')), ProtocolError);
});

test('screen: the host shares after our consent; pause, pointer, view, stop', () => {
  const { c, ctl } = setup();
  assert.deepEqual(c.state.screen, { canShare: true, own: null, peer: null });
  screenAccepted(c, ctl);
  const before = Date.now();
  ctl.line(hostShare('h5', 'on'));
  const p = c.state.screen.peer;
  assert.equal(p.id, 'h5');
  assert.equal(p.state, 'on');
  assert.equal(p.what, 'screen');
  assert.equal(p.w, 1920);
  assert.equal(p.h, 1080);
  assert.equal(p.viewing, true);
  assert.equal(p.pointer, null);
  assert.ok(p.started >= before && p.started <= Date.now());
  ctl.line({ t: 'pointer', id: 'h5', x: 0.5, y: 0.25 });
  assert.deepEqual(c.state.screen.peer.pointer, { x: 0.5, y: 0.25 });
  ctl.line(hostShare('h5', 'paused'));
  assert.equal(c.state.screen.peer.state, 'paused');
  ctl.line({ t: 'pointer', id: 'h5', x: 1, y: 1 }); // fine while paused
  assert.deepEqual(c.state.screen.peer.pointer, { x: 1, y: 1 });
  ctl.line({ t: 'pointer', id: 'h5' });
  assert.equal(c.state.screen.peer.pointer, null);
  ctl.line(hostShare('h5', 'on', 'screen', 1280, 720));
  assert.equal(c.state.screen.peer.state, 'on');
  assert.equal(c.state.screen.peer.w, 1280);
  // We stop viewing and view again: the host hears it, once each.
  assert.ok(c.view(false));
  assert.equal(c.state.screen.peer.viewing, false);
  assert.ok(c.view(false));
  assert.ok(c.view(true));
  assert.deepEqual(
    ctl.lines().filter((m) => m.t === 'view'),
    [
      { t: 'view', id: 'h5', on: false },
      { t: 'view', id: 'h5', on: true },
    ],
  );
  ctl.line(hostShare('h5', 'off'));
  assert.equal(c.state.screen.peer, null);
  assert.equal(c.view(false), false, 'no share to view');
  // A new share under a new id.
  ctl.line(hostShare('h6', 'on', 'window', 800, 600));
  assert.equal(c.state.screen.peer.id, 'h6');
  assert.equal(c.state.phase, 'connected');
});

test('screen: the host must not share without our consent', () => {
  const cases = [
    ['no ask', []],
    ['a pending ask', [{ t: 'ask', id: 'h1', what: 'screen' }]],
    ['a declined ask', [{ t: 'ask', id: 'h1', what: 'screen' }, 'decline']],
    ['a withdrawn ask', [{ t: 'ask', id: 'h1', what: 'screen' }, { t: 'withdraw', id: 'h1' }]],
    ['accepted, then withdrawn', [{ t: 'ask', id: 'h1', what: 'screen' }, 'accept', { t: 'withdraw', id: 'h1' }]],
    ['a record ask accepted', [{ t: 'ask', id: 'h1', what: 'record' }, 'accept']],
  ];
  for (const [name, steps] of cases) {
    const { session, c, ctl } = setup();
    for (const st of steps) {
      if (st === 'accept') c.answer('h1', true);
      else if (st === 'decline') c.answer('h1', false);
      else ctl.line(st);
    }
    ctl.line(hostShare('h5', 'on'));
    assert.equal(c.state.phase, 'failed', name);
    assert.equal(c.state.error, 'protocol', name);
    assert.equal(c.state.screen.peer, null, name);
    assert.equal(c.state.screen.canShare, false, name);
    assert.deepEqual(ctl.lines().at(-1), { t: 'end', reason: 'protocol error' }, name);
    assert.ok(session.closed, name);
  }
});

test('screen: a hostile host breaks the protocol', () => {
  const cases = [
    ['a client id', [hostShare('c5', 'on')]],
    ['two shares at once', [hostShare('h5', 'on'), hostShare('h6', 'on')]],
    ['an id again', [hostShare('h5', 'on'), hostShare('h5', 'off'), hostShare('h5', 'on')]],
    ['pause of no share', [hostShare('h5', 'paused')]],
    ['off twice', [hostShare('h5', 'on'), hostShare('h5', 'off'), hostShare('h5', 'off')]],
    ['what changes', [hostShare('h5', 'on'), hostShare('h5', 'paused', 'tab')]],
    ['pointer on no share', [{ t: 'pointer', id: 'h5', x: 0, y: 0 }]],
    ['pointer after off', [hostShare('h5', 'on'), hostShare('h5', 'off'), { t: 'pointer', id: 'h5' }]],
    ['pointer on another share', [hostShare('h5', 'on'), { t: 'pointer', id: 'h6', x: 0, y: 0 }]],
    ['pointer out of range', [hostShare('h5', 'on'), { t: 'pointer', id: 'h5', x: 2, y: 0 }]],
    ['view of no share', [{ t: 'view', id: 'c5', on: false }]],
    ['view of its own share', [hostShare('h5', 'on'), { t: 'view', id: 'h5', on: false }]],
  ];
  for (const [name, lines] of cases) {
    const { c, ctl } = setup();
    screenAccepted(c, ctl);
    for (const m of lines) ctl.line(m);
    assert.equal(c.state.phase, 'failed', name);
    assert.equal(c.state.error, 'protocol', name);
    assert.equal(c.state.screen.peer, null, name);
  }
});

test('screen: declining a later ask stops the host share; its crossing lines are ignored', () => {
  const { c, ctl } = setup();
  screenAccepted(c, ctl);
  ctl.line(hostShare('h5', 'on'));
  ctl.line({ t: 'ask', id: 'h2', what: 'screen' });
  assert.ok(c.state.screen.peer, 'an open ask changes nothing');
  c.answer('h2', false);
  assert.equal(c.state.screen.peer, null);
  // Sent by the host before it saw our answer.
  ctl.line({ t: 'pointer', id: 'h5', x: 0.5, y: 0.5 });
  ctl.line(hostShare('h5', 'paused'));
  ctl.line(hostShare('h5', 'on'));
  ctl.line(hostShare('h5', 'off'));
  assert.equal(c.state.phase, 'connected');
  assert.equal(c.state.screen.peer, null);
  // A new share without consent is not.
  ctl.line(hostShare('h6', 'on'));
  assert.equal(c.state.phase, 'failed');
});

test('screen: a flood of pointer positions is shown at most 20 a second; a hide always counts', () => {
  const { c, ctl } = setup();
  screenAccepted(c, ctl);
  ctl.line(hostShare('h5', 'on'));
  const start = performance.now();
  let bytes = '';
  for (let i = 0; i < 500; i++) bytes += JSON.stringify({ t: 'pointer', id: 'h5', x: i / 1000, y: 0.5 }) + '\n';
  ctl.deliver(utf8(bytes));
  const secs = (performance.now() - start) / 1000;
  const { shown, dropped } = c.pointerCount;
  assert.equal(shown + dropped, 500);
  assert.ok(dropped > 0, 'nothing dropped');
  assert.ok(shown <= POINTER_BURST + Math.ceil(secs * POINTER_RATE) + 1, `${shown} shown in ${secs} s`);
  assert.ok(c.state.screen.peer.pointer);
  ctl.line({ t: 'pointer', id: 'h5' });
  assert.equal(c.state.screen.peer.pointer, null);
  assert.equal(c.state.phase, 'connected');
});

test('screen: we share on our own; pause, pointer, stop; the host views or not', async () => {
  const { c, ctl } = setup();
  assert.throws(() => c.share('desktop', 1, 1), RangeError);
  const id = c.share('window', 1024.4, 1e9);
  assert.match(id, /^c[0-9a-f]{16}$/);
  assert.equal(c.share('screen', 1, 1), null, 'one share at a time');
  const own = c.state.screen.own;
  assert.equal(own.id, id);
  assert.equal(own.state, 'on');
  assert.equal(own.what, 'window');
  assert.equal(own.w, 1024);
  assert.equal(own.h, MAX_SHARE_PIXELS);
  assert.equal(own.viewing, true);
  assert.equal('pointer' in own, false);
  assert.ok(c.pointer(0.5, 1.2));
  assert.ok(c.pointer(null));
  assert.ok(c.pauseShare(true));
  assert.equal(c.state.screen.own.state, 'paused');
  assert.ok(c.pauseShare(true));
  assert.ok(c.pauseShare(false));
  ctl.line({ t: 'view', id, on: false });
  assert.equal(c.state.screen.own.viewing, false);
  ctl.line({ t: 'view', id, on: true });
  assert.equal(c.state.screen.own.viewing, true);
  c.stopShare();
  assert.equal(c.state.screen.own, null);
  c.stopShare(); // nothing to stop
  assert.equal(c.pauseShare(true), false);
  assert.equal(c.pointer(0, 0), false);
  // The host's view that crossed our stop is ignored.
  ctl.line({ t: 'view', id, on: false });
  assert.equal(c.state.phase, 'connected');
  const screen = ctl.lines().filter((m) => m.t === 'share' || m.t === 'pointer');
  assert.deepEqual(screen, [
    { t: 'share', id, state: 'on', what: 'window', w: 1024, h: MAX_SHARE_PIXELS },
    { t: 'pointer', id, x: 0.5, y: 1 },
    { t: 'pointer', id },
    { t: 'share', id, state: 'paused', what: 'window', w: 1024, h: MAX_SHARE_PIXELS },
    { t: 'share', id, state: 'on', what: 'window', w: 1024, h: MAX_SHARE_PIXELS },
    { t: 'share', id, state: 'off', what: 'window', w: 1024, h: MAX_SHARE_PIXELS },
  ]);
  // A second share gets a new id.
  const id2 = c.share('tab', 0, 0);
  assert.notEqual(id2, id);
  // Our pointer positions go out at most POINTER_RATE a second; the
  // latest of a burst always goes out, soon.
  for (let i = 0; i < 100; i++) c.pointer(i / 100, 0);
  const sent = () => ctl.lines().filter((m) => m.t === 'pointer' && m.id === id2);
  assert.ok(sent().length < 10, `${sent().length} positions at once`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(sent().at(-1), { t: 'pointer', id: id2, x: 0.99, y: 0 });
  // The end stops it.
  c.end();
  assert.deepEqual(c.state.screen, { canShare: false, own: null, peer: null });
});

test('screen: lines said while the connection is rebuilt go out once, after the resume', () => {
  const { session, c, ctl } = rebuildable();
  screenAccepted(c, ctl);
  ctl.line(hostShare('h5', 'on'));
  ctl.close();
  const id = c.share('screen', 10, 10);
  assert.ok(c.view(false));
  const ctl2 = new Chan('consult');
  session.add(ctl2);
  const [resume] = ctl2.lines();
  assert.equal(resume.t, 'resume');
  ctl2.line({ t: 'resume', got: resume.sent - 2, sent: c.got });
  assert.deepEqual(ctl2.lines().slice(1), [
    { t: 'share', id, state: 'on', what: 'screen', w: 10, h: 10 },
    { t: 'view', id: 'h5', on: false },
  ]);
  ctl2.line(hostShare('h5', 'paused'));
  ctl2.line({ t: 'view', id, on: false });
  assert.equal(c.state.screen.peer.state, 'paused');
  assert.equal(c.state.screen.own.viewing, false);
  assert.equal(c.state.phase, 'connected');
});

test('screen: random share, pointer and view messages never throw anything but ProtocolError', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  const pick = (xs) => xs[rnd() % xs.length];
  const values = [undefined, null, 0, 1, -1, 0.5, 1.5, 16384, 16385, NaN, Infinity, 1e-320, '', 'on', 'off', 'paused', 'screen', 'tab', 'h1', 'c1', 'h/1', true, false, [], {}];
  for (let i = 0; i < 5000; i++) {
    const m = { t: pick(['share', 'pointer', 'view']) };
    for (const k of ['id', 'state', 'what', 'w', 'h', 'x', 'y', 'on']) {
      const v = pick(values);
      if (v !== undefined) m[k] = v;
    }
    let v;
    try {
      v = validateHostMessage(m);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
      continue;
    }
    if (v.t === 'share') assert.ok(Number.isInteger(v.w) && v.w >= 0 && v.w <= MAX_SHARE_PIXELS && ['on', 'paused', 'off'].includes(v.state), JSON.stringify(m));
    if (v.t === 'pointer' && !v.hide) assert.ok(v.x >= 0 && v.x <= 1 && v.y >= 0 && v.y <= 1, JSON.stringify(m));
    if (v.t === 'view') assert.equal(typeof v.on, 'boolean');
  }
});
