import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendHold } from '../src/hold.js';

// A channel that records what reaches it.
function chan(name, log) {
  return {
    readyState: 'open',
    send(data) {
      if (this.readyState !== 'open') throw new Error('InvalidStateError');
      log.push(`${name}:${data}`);
    },
    close() {
      log.push(`${name}:close`);
      this.readyState = 'closed';
    },
  };
}

test('writes pass while nothing is held', () => {
  const log = [];
  const h = new SendHold();
  const a = chan('a', log);
  h.send(a, '1');
  h.close(a);
  assert.deepEqual(log, ['a:1', 'a:close']);
  assert.equal(h.held, false);
});

test('held writes go out once, in order, across channels, on release', () => {
  const log = [];
  const h = new SendHold();
  const a = chan('a', log);
  const b = chan('b', log);
  h.hold('reconnecting');
  h.send(a, '1');
  h.send(b, 'x');
  h.send(a, '2');
  h.close(b);
  h.send(a, '3');
  assert.deepEqual(log, []);
  assert.equal(h.queued, 5);
  assert.equal(h.release(), 5);
  assert.deepEqual(log, ['a:1', 'b:x', 'a:2', 'b:close', 'a:3']);
  assert.equal(h.queued, 0);
  assert.equal(h.release(), 0, 'a second release sends nothing again');
  h.send(a, '4');
  assert.deepEqual(log.at(-1), 'a:4');
});

test('suspect gives way to reconnecting, not the other way', () => {
  const h = new SendHold();
  h.hold('suspect');
  assert.equal(h.why, 'suspect');
  h.hold('reconnecting');
  assert.equal(h.why, 'reconnecting');
  h.hold('suspect');
  assert.equal(h.why, 'reconnecting');
  h.release();
  assert.equal(h.why, '');
});

test('a write to a channel closed meanwhile is dropped, the rest go on', () => {
  const log = [];
  const h = new SendHold();
  const a = chan('a', log);
  const b = chan('b', log);
  const c = chan('c', log);
  c.send = () => {
    throw new Error('OperationError');
  };
  h.hold('suspect');
  h.send(a, '1');
  h.send(b, 'x');
  h.send(c, 'boom');
  h.send(a, '2');
  b.readyState = 'closed';
  assert.equal(h.release(), 2);
  assert.deepEqual(log, ['a:1', 'a:2']);
});

test('ready waits for the release, after the queue went out', async () => {
  const log = [];
  const h = new SendHold();
  const a = chan('a', log);
  await h.ready(); // at once while nothing is held
  h.hold('reconnecting');
  h.send(a, 'announce');
  let passed = false;
  const p = h.ready().then(() => {
    passed = true;
    h.send(a, 'chunk');
  });
  await Promise.resolve();
  assert.equal(passed, false);
  h.release();
  await p;
  assert.deepEqual(log, ['a:announce', 'a:chunk']);
});

test('shut drops what waits and frees the waiters', async () => {
  const log = [];
  const h = new SendHold();
  const a = chan('a', log);
  h.hold('reconnecting');
  h.send(a, '1');
  const p = h.ready();
  h.shut();
  await p;
  assert.equal(h.queued, 0);
  h.send(a, '2'); // a session that ended: the channel says what happens
  h.hold('suspect');
  assert.equal(h.held, false, 'nothing is held after shut');
  assert.deepEqual(log, ['a:2']);
});
