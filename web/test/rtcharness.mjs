// rtc.js's video in a real browser, for browser_screen_test.go: a stand-in
// host in the same page (an RTCPeerConnection that offers the data channels
// and, when asked, a video section, as the Go host does with both hellos
// saying "screen") pairs with connect() over an in-page signalling, does the
// channel binding, shows a canvas and receives what the page shares back.
// Built by the test with esbuild; not part of dist/.
import { connect, sdpFingerprint } from '../src/rtc.js';
import { videoSection } from '../src/screen.js';
import { bindingProof } from '../src/wire.js';

const kbind = new Uint8Array(32).fill(7);

// canvasTrack is a w×h picture that keeps changing, so frames flow.
function canvasTrack(w, h, color) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const g = c.getContext('2d');
  let n = 0;
  (function draw() {
    g.fillStyle = n++ % 2 ? color : '#000';
    g.fillRect(0, 0, w, h);
    requestAnimationFrame(draw);
  })();
  return c.captureStream(10).getVideoTracks()[0];
}

function frames(track) {
  const v = document.createElement('video');
  v.muted = true;
  v.autoplay = true;
  v.playsInline = true;
  v.srcObject = new MediaStream([track]);
  document.body.append(v);
  return v;
}

/** run pairs a page session with a host that offers video (or not) and reports what happened. */
async function run({ video }) {
  const out = { answer: '', shown: null, back: null, params: null, canShare: false, tracks: 0 };
  const host = new RTCPeerConnection();
  const ctl = host.createDataChannel('ctl', { negotiated: true, id: 0 });
  ctl.binaryType = 'arraybuffer';
  host.createDataChannel('consult');
  let hostTx = null;
  if (video) hostTx = host.addTransceiver(canvasTrack(800, 450, '#2a6'), { direction: 'sendrecv' });

  // The pairing as rtc.js uses it: signals both ways.
  const inbox = [];
  let wake = null;
  const pair = {
    iceServers: [],
    keys: { kbind },
    reopenable: false,
    mailboxUp: true,
    async reopen() {},
    close() {},
    send(sig) {
      if (sig.t === 'answer') {
        out.answer = sig.sdp;
        host.setRemoteDescription({ type: 'answer', sdp: sig.sdp });
      } else if (sig.t === 'cand') {
        host.addIceCandidate({ candidate: sig.c, sdpMid: sig.mid ?? null, sdpMLineIndex: sig.idx ?? null }).catch(() => {});
      }
    },
    async recv(signal) {
      while (!inbox.length) {
        if (signal?.aborted) throw Object.assign(new Error('closed'), { kind: 'closed' });
        await new Promise((r) => {
          wake = r;
          signal?.addEventListener('abort', r, { once: true });
        });
      }
      return inbox.shift();
    },
  };
  const deliver = (sig) => {
    inbox.push(sig);
    wake?.();
  };
  host.onicecandidate = (ev) => {
    if (ev.candidate?.candidate) deliver({ t: 'cand', c: ev.candidate.candidate, mid: ev.candidate.sdpMid, idx: ev.candidate.sdpMLineIndex });
  };
  // The host's half of the binding, once ctl is open on its side.
  ctl.onopen = () => {
    const fpA = sdpFingerprint(host.localDescription.sdp);
    const fpB = sdpFingerprint(host.remoteDescription.sdp);
    ctl.send(bindingProof(kbind, 'a', fpA, fpB));
  };
  await host.setLocalDescription(await host.createOffer());
  const sessionP = connect({ pair, RTCPeerConnection });
  deliver({ t: 'offer', sdp: host.localDescription.sdp });
  const s = await sessionP;
  s.onvideo = (track) => {
    out.tracks++;
    if (track) out.shown = frames(track);
  };
  out.canShare = s.canShare;
  if (video) {
    const share = canvasTrack(640, 360, '#a26');
    await s.setShareTrack(share);
    out.back = frames(hostTx.receiver.track);
    const p = s.link.video.sender.getParameters();
    out.params = { fps: p.encodings.map((e) => e.maxFramerate), deg: p.degradationPreference ?? null };
  }
  window.rtcResult = {
    answerVideo: videoSection(out.answer)?.direction ?? 'no video',
    canShare: out.canShare,
    tracks: out.tracks,
    params: out.params,
    shown: () => (out.shown ? `${out.shown.videoWidth}x${out.shown.videoHeight}` : ''),
    back: () => (out.back ? `${out.back.videoWidth}x${out.back.videoHeight}` : ''),
    stop: async () => {
      await s.setShareTrack(null);
      return hostTx.sender && s.link.video.sender.track === null;
    },
  };
  return true;
}

window.runRTC = (o) => run(o).catch((e) => (window.rtcError = String(e?.stack ?? e)));
