import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Mailbox, PairingError, refusedHandshake } from '../src/pairing.js';

// A WebSocket in memory: it opens (or fails its handshake, as a browser
// shows it: error, then close), sends the welcome, and answers a claim with
// the frame the test gives.
class FakeWS {
  static plan = null;
  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.readyState = 0;
    const plan = FakeWS.plan;
    setTimeout(() => {
      if (plan.handshake === 'fail') {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006 });
        return;
      }
      this.readyState = 1;
      this.onopen?.({});
      this.onmessage?.({ data: '{"type":"welcome","version":1}' });
    }, 0);
  }
  send(text) {
    const f = JSON.parse(text);
    if (f.type === 'claim') setTimeout(() => this.onmessage?.({ data: JSON.stringify(FakeWS.plan.reply) }), 0);
  }
  close() {
    this.readyState = 3;
  }
}

async function claimWith(plan, fetchFn) {
  FakeWS.plan = plan;
  try {
    const mb = await Mailbox.dial('ws://rv.test/v1/mailbox', FakeWS, undefined, fetchFn);
    await mb.claim('47');
    return 'claimed';
  } catch (e) {
    assert.ok(e instanceof PairingError, String(e));
    return e.kind;
  }
}

test('a busy server: its rate-limited frame is "busy", a rate limit of this address is "refused"', async () => {
  const busy = { type: 'error', kind: 'rate-limited', message: 'the server is busy, try again in a minute' };
  assert.equal(await claimWith({ reply: busy }), 'busy');
  const mine = { type: 'error', kind: 'rate-limited', message: 'too many claims from this address, try again in a minute' };
  assert.equal(await claimWith({ reply: mine }), 'refused');
  assert.equal(await claimWith({ reply: { type: 'error', kind: 'rate-limited' } }), 'refused');
  assert.equal(await claimWith({ reply: { type: 'error', kind: 'too-many', message: 'the server is busy' } }), 'refused');
});

test('a failed handshake is told apart by asking over HTTP: 503 is busy, 429 refused, else unreachable', async () => {
  const asked = [];
  const answer = (status) => async (url, init) => {
    asked.push([url, init.cache, init.credentials]);
    return new Response('x', { status });
  };
  assert.equal(await claimWith({ handshake: 'fail' }, answer(503)), 'busy');
  assert.deepEqual(asked[0], ['http://rv.test/v1/mailbox', 'no-store', 'omit']);
  assert.equal(await claimWith({ handshake: 'fail' }, answer(429)), 'refused');
  assert.equal(await claimWith({ handshake: 'fail' }, answer(426)), 'unreachable');
  assert.equal(await claimWith({ handshake: 'fail' }, answer(200)), 'unreachable');
  assert.equal(await claimWith({ handshake: 'fail' }, async () => Promise.reject(new TypeError('network'))), 'unreachable');
  assert.equal(await claimWith({ handshake: 'fail' }), 'unreachable', 'without fetch nothing is asked');
  // A handshake that worked is never second-guessed.
  const n = asked.length;
  const busy = { type: 'error', kind: 'rate-limited', message: 'the server is busy, try again in a minute' };
  assert.equal(await claimWith({ reply: busy }, answer(200)), 'busy');
  assert.equal(asked.length, n);
});

test('refusedHandshake: wss asks https; a server that never answers is given up on', async () => {
  let seen = '';
  assert.equal(await refusedHandshake('wss://rv.test:8443/v1/mailbox?x=1', async (u) => ((seen = u), new Response('', { status: 503 }))), 'busy');
  assert.equal(seen, 'https://rv.test:8443/v1/mailbox?x=1');
  const hang = (u, init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
  assert.equal(await refusedHandshake('ws://rv.test/v1/mailbox', hang, 20), null);
});
