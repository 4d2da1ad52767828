import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ASK_AGAIN, GIVE_UP, pairActivity, Reconnector } from '../src/restart.js';
import * as w from '../src/wire.js';

// A fake clock: timers run when the test advances time.
function clock() {
  let now = 0;
  let timers = [];
  return {
    now: () => now,
    setTimeout: (f, d) => {
      const t = { at: now + d, f };
      timers.push(t);
      return t;
    },
    clearTimeout: (t) => (timers = timers.filter((x) => x !== t)),
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await flush();
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.f();
      }
      now = end;
      await flush();
    },
  };
}

async function flush() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function harness({ online = true, reopenFails = false } = {}) {
  const c = clock();
  const h = { c, reopens: 0, asks: 0, states: [], mbUp: true, online };
  h.rc = new Reconnector({
    reopen: async () => {
      h.reopens++;
      if (reopenFails) {
        h.mbUp = false;
        throw new Error('gone');
      }
      h.mbUp = true;
    },
    mailboxUp: () => h.mbUp,
    ask: () => h.asks++,
    online: () => h.online,
    onstate: (s, info) => h.states.push([s, info]),
    now: c.now,
    setTimeout: c.setTimeout,
    clearTimeout: c.clearTimeout,
  });
  return h;
}

test('a lost path re-opens the mailbox, asks once, and reports the pause when data flows again', async () => {
  const h = harness();
  h.rc.lost('silent');
  await h.c.advance(0);
  assert.equal(h.reopens, 1, 'the WebSocket may be dead: re-open before asking');
  assert.equal(h.asks, 1);
  h.rc.lost('ice-disconnected'); // the same episode
  h.rc.offered();
  await h.c.advance(1200);
  h.rc.up();
  assert.deepEqual(h.states, [
    ['reconnecting', { why: 'silent' }],
    ['up', { pause: 1200 }],
  ]);
  await h.c.advance(3 * ASK_AGAIN);
  assert.equal(h.asks, 1, 'nothing more once up');
  assert.equal(h.rc.episodes, 1);
});

test('a request that brings no offer is repeated over a fresh mailbox connection; an offer holds it off', async () => {
  const h = harness();
  h.rc.lost('silent');
  await h.c.advance(ASK_AGAIN - 1);
  assert.equal(h.asks, 1);
  await h.c.advance(1);
  assert.equal(h.asks, 2);
  assert.equal(h.reopens, 2, 'no offer came: the request may have gone into a dead WebSocket');
  h.rc.offered(); // the host works on it: wait
  await h.c.advance(ASK_AGAIN - 1);
  assert.equal(h.asks, 2);
  await h.c.advance(1);
  assert.equal(h.asks, 3, 'the attempt did not bring the path back: ask again');
  assert.equal(h.reopens, 2, 'an offer came since: the mailbox works');
});

test('offline waits for online, which asks at once', async () => {
  const h = harness({ online: false });
  h.rc.lost('offline');
  await h.c.advance(20_000);
  assert.equal(h.asks, 0);
  assert.equal(h.reopens, 0);
  h.online = true;
  h.rc.network('online');
  await h.c.advance(0);
  assert.equal(h.reopens, 1);
  assert.equal(h.asks, 1);
});

test('a network change while up starts an episode', async () => {
  const h = harness();
  h.rc.network('connection-change');
  await h.c.advance(0);
  assert.equal(h.rc.state, 'reconnecting');
  assert.equal(h.asks, 1);
});

test('it gives up after GIVE_UP, also when the mailbox is gone', async () => {
  const h = harness({ reopenFails: true });
  h.rc.lost('silent');
  await h.c.advance(GIVE_UP - 1);
  assert.equal(h.asks, 0, 'no signalling, no request');
  assert.equal(h.rc.state, 'reconnecting');
  await h.c.advance(ASK_AGAIN);
  assert.equal(h.rc.state, 'failed');
  assert.deepEqual(h.states.at(-1), ['failed', {}]);
});

test('close stops an episode without a report', async () => {
  const h = harness();
  h.rc.lost('silent');
  await h.c.advance(0);
  h.rc.close();
  await h.c.advance(GIVE_UP * 2);
  assert.equal(h.rc.state, 'closed');
  assert.equal(h.states.length, 1);
});

test('pairActivity watches the selected pair only, and a new pair first sets its baseline', () => {
  const report = (sel, pairs) => [{ type: 'transport', id: 'T', selectedCandidatePairId: sel }, ...pairs.map(([id, b]) => ({ type: 'candidate-pair', id, bytesReceived: b, responsesReceived: 99 }))];
  let r = pairActivity(report('A', [['A', 100], ['B', 5]]), new Map());
  assert.equal(r.active, false, 'no baseline yet');
  r = pairActivity(report('A', [['A', 100], ['B', 50]]), r.counts);
  assert.equal(r.active, false, 'a backup pair does not count');
  r = pairActivity(report('A', [['A', 101], ['B', 50]]), r.counts);
  assert.equal(r.active, true);
  r = pairActivity(report('C', [['A', 101], ['C', 10]]), r.counts);
  assert.equal(r.active, false, 'a new selected pair first sets its baseline');
  r = pairActivity(report('C', [['A', 101], ['C', 11]]), r.counts);
  assert.equal(r.active, true);
  // Without transport stats: the nominated, succeeded pair.
  r = pairActivity([{ type: 'candidate-pair', id: 'X', nominated: true, state: 'succeeded', bytesReceived: 3 }], new Map([['X', 2]]));
  assert.equal(r.active, true);
  assert.equal(pairActivity([], new Map()).active, false);
});

test('mailbox frames of a re-open', () => {
  assert.equal(w.claimFrame('47', true), '{"type":"claim","nameplate":"47","reopen":true}');
  const id = new Uint8Array(16).fill(1);
  const token = new Uint8Array(32).fill(2);
  assert.deepEqual(JSON.parse(w.reopenFrame(id, token, 3)), { type: 'reopen', mailbox: 'AQEBAQEBAQEBAQEBAQEBAQ==', token: 'AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=', received: 3 });
  assert.equal(JSON.parse(w.reopenFrame(id, token, 0)).received, undefined);
  assert.throws(() => w.reopenFrame(id, token.slice(1), 0));
  assert.throws(() => w.reopenFrame(id, token, w.MAX_BODIES + 1));
  const paired = w.parseServerFrame(JSON.stringify({ type: 'paired', ice_servers: [], ttl: 60, token: 'AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=' }));
  assert.deepEqual(paired.token, token);
  assert.throws(() => w.parseServerFrame(JSON.stringify({ type: 'paired', token: 'AgIC' })));
  assert.equal(w.parseServerFrame('{"type":"reopened","received":5}').received, 5);
  assert.equal(w.parseServerFrame('{"type":"reopened"}').received, 0);
  for (const bad of ['-1', String(w.MAX_BODIES + 1), '1.5', '"3"']) assert.throws(() => w.parseServerFrame(`{"type":"reopened","received":${bad}}`));
  // The restart request seals like any signal, with no fields.
  assert.deepEqual(JSON.parse(new TextDecoder().decode(w.marshalSignal({ t: 'restart' }))), { t: 'restart' });
});
