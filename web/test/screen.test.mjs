// Screen sharing on the join page without a browser (docs/screen.md): the
// host's video section, where a pointer shows on a letterboxed or 1:1
// picture, where a click points, and the sender's knobs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containRect, fractionAt, pixels, pointerAt, surfaceKind, tuneSender, videoSection, videoTransceiver } from '../src/screen.js';

// A host's offer as pion writes it: the data channel first, then video
// (docs/screen.md: mid after the data channel's).
const offer = [
  'v=0',
  'o=- 1 2 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=mid:0',
  'a=sendrecv',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'a=sendrecv',
  '',
].join('\r\n');

test('screen: the video section of an offer', () => {
  assert.deepEqual(videoSection(offer), { mid: '1', direction: 'sendrecv', index: 1 });
  assert.deepEqual(videoSection(offer.replace('a=mid:1\r\na=rtpmap:96 VP8/90000\r\na=sendrecv', 'a=mid:v\r\na=recvonly')), {
    mid: 'v',
    direction: 'recvonly',
    index: 1,
  });
  // No direction line: sendrecv (RFC 8866).
  assert.equal(videoSection(offer.replace(/a=sendrecv\r\n$/, '')).direction, 'sendrecv');
  // LF only.
  assert.equal(videoSection(offer.replaceAll('\r\n', '\n')).mid, '1');
  // Data channels only: an earlier host, or a peer without screen.
  assert.equal(videoSection(offer.split('m=video')[0]), null);
  // A rejected section (port 0) is no video to show.
  assert.equal(videoSection(offer.replace('m=video 9', 'm=video 0')), null);
  // The application section's direction is not the video's.
  assert.equal(videoSection(offer.replace(/(m=video[^]*)a=sendrecv/, '$1a=inactive')).direction, 'inactive');
  assert.equal(videoSection(''), null);
  assert.equal(videoSection('m=video\r\na=mid:1\r\n'), null, 'no port');
  assert.equal(videoSection('m=video x X 96\r\n'), null, 'no port');
});

test('screen: the transceiver of the video section', () => {
  const tx = (mid, kind) => ({ mid, stopped: false, receiver: { track: { kind } } });
  const pc = { getTransceivers: () => [tx(null, 'audio'), tx('1', 'video'), tx('2', 'video')] };
  assert.equal(videoTransceiver(pc, offer).mid, '1');
  assert.equal(videoTransceiver(pc, offer.replace('a=mid:1', 'a=mid:2')).mid, '2');
  // Without a matching mid: the first video transceiver.
  assert.equal(videoTransceiver(pc, offer.replace('a=mid:1', 'a=mid:9')).mid, '1');
  assert.equal(videoTransceiver(pc, offer.split('m=video')[0]), null);
  assert.equal(videoTransceiver({}, offer), null);
});

test('screen: where a pointer shows, letterboxed and 1:1', () => {
  // 1600×900 in a wide element: bars left and right.
  assert.deepEqual(containRect(1000, 400, 1600, 900), { x: (1000 - 400 * (16 / 9)) / 2, y: 0, w: 400 * (16 / 9), h: 400 });
  // In a narrow one: bars above and below.
  assert.deepEqual(containRect(320, 600, 1600, 900), { x: 0, y: (600 - 180) / 2, w: 320, h: 180 });
  // 1:1: the element is the picture.
  assert.deepEqual(containRect(1600, 900, 1600, 900), { x: 0, y: 0, w: 1600, h: 900 });
  // No picture size yet: the whole element.
  assert.deepEqual(containRect(300, 150, 0, 0), { x: 0, y: 0, w: 300, h: 150 });
  assert.deepEqual(containRect(0, 0, 800, 600), { x: 0, y: 0, w: 0, h: 0 });

  assert.deepEqual(pointerAt(320, 600, 1600, 900, 0, 0), { left: 0, top: 210 });
  assert.deepEqual(pointerAt(320, 600, 1600, 900, 1, 1), { left: 320, top: 390 });
  assert.deepEqual(pointerAt(1600, 900, 1600, 900, 0.25, 0.5), { left: 400, top: 450 });
  const wide = pointerAt(1000, 400, 1600, 900, 0.5, 0.5);
  assert.ok(Math.abs(wide.left - 500) < 1e-9 && Math.abs(wide.top - 200) < 1e-9);
});

test('screen: a click points at the fraction it hit, not on the letterbox', () => {
  for (const [ew, eh] of [
    [320, 600],
    [1000, 400],
    [1600, 900],
  ]) {
    for (const [x, y] of [
      [0, 0],
      [0.25, 0.75],
      [1, 1],
      [0.5, 0.1],
    ]) {
      const at = pointerAt(ew, eh, 1600, 900, x, y);
      const f = fractionAt(ew, eh, 1600, 900, at.left, at.top);
      assert.ok(Math.abs(f.x - x) < 1e-9 && Math.abs(f.y - y) < 1e-9, `${ew}×${eh} ${x},${y}: ${JSON.stringify(f)}`);
    }
  }
  assert.equal(fractionAt(320, 600, 1600, 900, 100, 50), null, 'the bar above');
  assert.equal(fractionAt(1000, 400, 1600, 900, 10, 200), null, 'the bar to the left');
  assert.equal(fractionAt(0, 0, 1600, 900, 0, 0), null);
});

test('screen: what a share says it shows, and its size', () => {
  assert.equal(surfaceKind('monitor'), 'screen');
  assert.equal(surfaceKind('window'), 'window');
  assert.equal(surfaceKind('browser'), 'tab');
  assert.equal(surfaceKind(undefined), 'other');
  assert.equal(surfaceKind('application'), 'other');
  assert.equal(pixels(1920), 1920);
  assert.equal(pixels(1079.6), 1080);
  assert.equal(pixels(-3), 0);
  assert.equal(pixels(1e9), 16384);
  assert.equal(pixels(undefined), 0);
  assert.equal(pixels(NaN), 0);
});

test('screen: the sender keeps 15 frames a second and its resolution', async () => {
  let set = null;
  const sender = {
    getParameters: () => ({ transactionId: 't1', encodings: [{ active: true }] }),
    setParameters: async (p) => {
      set = p;
    },
  };
  assert.equal(await tuneSender(sender), true);
  assert.deepEqual(set, { transactionId: 't1', encodings: [{ active: true, maxFramerate: 15 }], degradationPreference: 'maintain-resolution' });
  // Not negotiated yet: no encodings, nothing set.
  set = null;
  assert.equal(await tuneSender({ getParameters: () => ({ encodings: [] }), setParameters: async (p) => (set = p) }), false);
  assert.equal(set, null);
  // A browser that refuses degradationPreference still gets the frame rate.
  set = null;
  const picky = {
    getParameters: () => ({ encodings: [{}] }),
    setParameters: async (p) => {
      if ('degradationPreference' in p) throw new Error('InvalidModificationError');
      set = p;
    },
  };
  assert.equal(await tuneSender(picky), true);
  assert.deepEqual(set, { encodings: [{ maxFramerate: 15 }] });
  // One that refuses everything: no harm.
  assert.equal(await tuneSender({ getParameters: () => ({ encodings: [{}] }), setParameters: async () => Promise.reject(new Error('InvalidModificationError')) }), false);
});

// videoSection is a parser of what the host sends: random SDP-ish text may
// yield null or a section, never throw, and a section's fields are what
// the text says.
test('screen: videoSection on hostile input', () => {
  let s = 7;
  const r = (n) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % n;
  };
  const pieces = ['m=video 9 X 96', 'm=video 0 X', 'm=audio 9 X', 'm=application 9 X', 'a=mid:', 'a=mid:x', 'a=sendonly', 'a=recvonly', 'a=inactive', 'a=sendrecv', '\r\n', '\n', '\r', ' ', '\u0000', 'm=', 'a=', 'm=video', 'm=video 9'];
  for (let i = 0; i < 5000; i++) {
    let text = '';
    for (let j = r(30); j > 0; j--) text += pieces[r(pieces.length)];
    const sec = videoSection(text);
    if (sec === null) continue;
    assert.ok(['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(sec.direction), text);
    assert.ok(sec.mid === null || typeof sec.mid === 'string', text);
    assert.ok(Number.isInteger(sec.index) && sec.index >= 0, text);
    assert.match(text, /m=video 0*[1-9]/);
  }
});
