// Screen sharing in the console (docs/screen.md): the bridge to this peer,
// our share and the peer's. The page captures with getDisplayMedia and sends
// the track over the bridge, an RTCPeerConnection to the Go peer on this
// machine, which forwards it to the other side; the other side's share
// comes back over the same bridge. One video transceiver carries both
// directions, so starting or stopping a share needs no new offer.

import { t } from './i18n.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

// GATHER_WAIT bounds the wait for ICE gathering: the bridge's candidates are
// host candidates only, and go in the offer.
const GATHER_WAIT = 2000;
// REBUILD_FIRST and REBUILD_EVERY pace the rebuilding of a failed bridge:
// soon after it failed, then, while the new ones fail too, at most every
// REBUILD_EVERY.
const REBUILD_FIRST = 1000;
const REBUILD_EVERY = 5000;
// FRAME_RATE is what a share sends at most (docs/screen.md).
const FRAME_RATE = 15;
const MAX_PIXELS = 16384;

/**
 * containRect is where a picture of w×h appears in an element of ew×eh
 * that shows it with object-fit: contain (centred, letterboxed), in the
 * element's pixels: {x, y, w, h}. Without a picture size it is the whole
 * element.
 */
export function containRect(ew, eh, w, h) {
  if (!(w > 0 && h > 0 && ew > 0 && eh > 0)) return { x: 0, y: 0, w: Math.max(ew, 0), h: Math.max(eh, 0) };
  const s = Math.min(ew / w, eh / h);
  const pw = w * s;
  const ph = h * s;
  return { x: (ew - pw) / 2, y: (eh - ph) / 2, w: pw, h: ph };
}

/** surfaceKind maps a track's displaySurface to what a share says it shows. */
export function surfaceKind(s) {
  return { monitor: 'screen', window: 'window', browser: 'tab' }[s] ?? 'other';
}

// pixels is a picture size as the API takes it: an integer 0–16384.
const pixels = (n) => Math.min(MAX_PIXELS, Math.max(0, Math.round(Number(n) || 0)));

// pictureSize is the size of what video shows: its frames' once they
// arrive, else what the share said.
function pictureSize(video, share) {
  if (video.videoWidth > 0 && video.videoHeight > 0) return [video.videoWidth, video.videoHeight];
  return [share?.w || 0, share?.h || 0];
}

/**
 * preferVP8 puts VP8 first where the browser lets the page choose
 * (setCodecPreferences): Go forwards it without decoding, and every
 * WebRTC browser has it.
 */
function preferVP8(tx) {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.('video');
  if (!tx.setCodecPreferences || !caps) return;
  const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/vp8');
  if (vp8.length === 0) return;
  try {
    tx.setCodecPreferences([...vp8, ...rest]);
  } catch {
    // the browser's own order then
  }
}

/** tuneSender keeps a share at 15 frames a second and lets its resolution stay. */
async function tuneSender(sender) {
  // A browser that refuses degradationPreference may still take the
  // frame rate: try again without it. Not negotiated yet, or no knobs at
  // all: the track's constraints still cap the frame rate.
  for (const keep of [true, false]) {
    try {
      const p = sender.getParameters();
      if (!p.encodings || p.encodings.length === 0) return;
      for (const e of p.encodings) e.maxFramerate = FRAME_RATE;
      if (keep) p.degradationPreference = 'maintain-resolution';
      await sender.setParameters(p);
      return;
    } catch {
      // next
    }
  }
}

// gathered resolves once ICE gathering is complete, or after ms.
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Screen drives the screen panel. api(method, path, body) calls the console
 * API (rejecting with the refusal's message); showError shows one.
 */
export class Screen {
  #api;
  #showError;
  #st = null; // the last State
  #bridge = null; // {pc, tx, state, ready}
  #rebuildTimer = 0;
  #failures = 0; // bridges that failed since one was up
  #capture = null; // the MediaStreamTrack we share
  #captureID = null; // the id of the share the capture runs as, once the state shows it
  #starting = false;
  #fit = true;
  #big = false;
  #mark = null; // where we pointed on our share: {x, y}

  constructor({ api, showError }) {
    this.#api = api;
    this.#showError = showError;
    $('share-screen').addEventListener('click', () => this.start());
    $('share-pause').addEventListener('click', () => this.#pause());
    $('share-stop').addEventListener('click', () => this.stop());
    $('share-pointer-hide').addEventListener('click', () => this.#hidePointer());
    $('share-bigger').addEventListener('click', () => {
      this.#big = !this.#big;
      this.render(this.#st);
    });
    $('share-preview').addEventListener('click', (ev) => this.#point(ev));
    $('screen-fit').addEventListener('click', () => {
      this.#fit = !this.#fit;
      this.render(this.#st);
    });
    $('screen-view').addEventListener('click', () => {
      const peer = this.#st?.screen?.peer;
      if (peer) this.#post('/api/screen/view', { on: !peer.viewing });
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.#rebuild();
    });
    const video = $('screen');
    for (const ev of ['loadedmetadata', 'resize']) video.addEventListener(ev, () => this.#layout());
    for (const ev of ['loadedmetadata', 'resize']) $('share-preview').addEventListener(ev, () => this.#placeMark());
    // A new size of the video only moves the pointers: sizing it there
    // again would loop.
    if (globalThis.ResizeObserver) {
      new ResizeObserver(() => {
        this.#placePointer();
        this.#placeMark();
      }).observe(video);
    }
    window.addEventListener('resize', () => {
      this.#layout();
      this.#placeMark();
    });
    this.#watchPixelRatio();
  }

  // watchPixelRatio lays out again when the device pixel ratio changes
  // (zoom, another screen): 1:1 is one picture pixel per device pixel.
  #watchPixelRatio() {
    const mq = window.matchMedia?.(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    mq?.addEventListener?.(
      'change',
      () => {
        this.#layout();
        this.#watchPixelRatio();
      },
      { once: true },
    );
  }

  #post(path, body) {
    return this.#api('POST', path, body).catch((e) => {
      this.#showError(e);
      throw e;
    });
  }

  /** render shows st (the console's State) and opens or closes the bridge to match. */
  render(st) {
    if (!st) return;
    this.#st = st;
    const sc = st.screen;
    const live = st.phase === 'connected' && Boolean(sc);
    const panel = $('screen-panel');
    panel.hidden = !live;
    if (live) this.#rebuild();
    else this.#closeBridge();
    if (!live && this.#capture) this.#endCapture();

    // A share that ended without us (the client withdrew its consent, the
    // Go peer stopped it) ends the capture too.
    if (this.#capture && sc?.own && !this.#starting) {
      if (sc.own.state !== 'off') this.#captureID = sc.own.id;
      else if (sc.own.id === this.#captureID) this.#endCapture();
    }
    const own = sc?.own && sc.own.state !== 'off' ? sc.own : null;
    const peer = sc?.peer && sc.peer.state !== 'off' ? sc.peer : null;
    panel.dataset.own = own ? own.state : 'none';
    panel.dataset.peer = peer ? peer.state : 'none';
    panel.dataset.bridge = this.#bridge ? this.#bridge.state : 'none';

    // Our share.
    const sharing = Boolean(own || this.#capture);
    const may = st.role === 'client' || Boolean(sc?.can_share);
    const start = $('share-screen');
    start.disabled = !live || !may || sharing || this.#starting;
    start.title = may ? '' : t('screen.needconsent');
    const paused = own?.state === 'paused';
    const pause = $('share-pause');
    pause.hidden = !own;
    pause.dataset.paused = String(paused);
    pause.textContent = t(paused ? 'screen.resume' : 'screen.pause');
    $('share-stop').hidden = !sharing;
    $('share-pointer-hide').hidden = !own || !this.#mark;
    const viewing = $('share-viewing');
    viewing.hidden = !own;
    viewing.dataset.viewing = String(Boolean(own?.viewing));
    viewing.textContent = own ? t(own.viewing ? 'screen.viewing.' + st.role : 'screen.notviewing.' + st.role) : '';
    $('share-own').hidden = !this.#capture;
    $('share-own').dataset.big = String(this.#big);
    $('share-bigger').textContent = t(this.#big ? 'screen.smaller' : 'screen.bigger');
    const rate = $('screen-bitrate');
    rate.hidden = st.role !== 'host' || !sc?.bitrate;
    rate.textContent = sc?.bitrate ? t('screen.bitrate', (sc.bitrate / 1e6).toFixed(1)) : '';

    // The peer's share.
    $('peer-screen').hidden = !peer;
    $('screen-title').textContent = peer ? t('screen.peer.' + st.role, t('screen.what.' + peer.what)) : '';
    const view = $('screen-view');
    view.dataset.viewing = String(Boolean(peer?.viewing));
    view.textContent = t(peer?.viewing ? 'screen.stopview' : 'screen.resumeview');
    $('screen-fit').textContent = t(this.#fit ? 'screen.actual' : 'screen.fit');
    $('screen-box').dataset.fit = this.#fit ? 'fit' : '1:1';
    $('screen-paused').hidden = peer?.state !== 'paused';
    $('screen-notviewing').hidden = !peer || peer.viewing;
    this.#layout();
    this.#placeMark();
  }

  // sizeVideo gives the peer's video its size. To fit, it is as wide as
  // the panel and as high as the picture's aspect makes it, at most 70 %
  // of the window's height (then letterboxed at the sides); 1:1, one
  // picture pixel per device pixel, the box scrolling.
  #sizeVideo(peer) {
    const v = $('screen');
    const [w, h] = pictureSize(v, peer);
    const set = (k, val) => {
      if (v.style[k] !== val) v.style[k] = val;
    };
    if (this.#fit || !peer) {
      set('width', '');
      set('height', '');
      set('aspectRatio', w > 0 && h > 0 ? `${w} / ${h}` : '');
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    set('aspectRatio', '');
    set('width', w > 0 ? `${w / dpr}px` : '');
    set('height', h > 0 ? `${h / dpr}px` : '');
  }

  // layout sizes the peer's video and places its pointer, after a change
  // of the state, the picture or the window.
  #layout() {
    const peer = this.#st?.screen?.peer;
    this.#sizeVideo(peer && peer.state !== 'off' ? peer : null);
    this.#placePointer();
  }

  // placePointer puts the peer's pointer at its fraction of the picture as
  // it is shown: the video's box less the letterboxing.
  #placePointer() {
    const ptr = $('screen-pointer');
    const peer = this.#st?.screen?.peer;
    const p = peer && peer.state !== 'off' ? peer.pointer : null;
    if (!p) {
      ptr.hidden = true;
      return;
    }
    const v = $('screen');
    const [w, h] = pictureSize(v, peer);
    const r = containRect(v.clientWidth, v.clientHeight, w, h);
    ptr.style.left = `${v.offsetLeft + r.x + p.x * r.w}px`;
    ptr.style.top = `${v.offsetTop + r.y + p.y * r.h}px`;
    ptr.hidden = false;
  }

  // placeMark shows on our preview where we point.
  #placeMark() {
    const m = $('share-mark');
    const own = this.#st?.screen?.own;
    if (!this.#mark || !own || own.state === 'off') {
      m.hidden = true;
      return;
    }
    const v = $('share-preview');
    const [w, h] = pictureSize(v, own);
    const r = containRect(v.clientWidth, v.clientHeight, w, h);
    m.style.left = `${v.offsetLeft + r.x + this.#mark.x * r.w}px`;
    m.style.top = `${v.offsetTop + r.y + this.#mark.y * r.h}px`;
    m.hidden = false;
  }

  // point places the pointer where the sharer clicked on its preview.
  #point(ev) {
    const own = this.#st?.screen?.own;
    if (!own || own.state === 'off') return;
    const v = $('share-preview');
    const b = v.getBoundingClientRect();
    const [w, h] = pictureSize(v, own);
    const r = containRect(b.width, b.height, w, h);
    const x = (ev.clientX - b.left - r.x) / r.w;
    const y = (ev.clientY - b.top - r.y) / r.h;
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return; // on the letterbox
    this.#mark = { x, y };
    this.#placeMark();
    $('share-pointer-hide').hidden = false;
    this.#post('/api/screen/pointer', { x, y }).catch(() => {});
  }

  #hidePointer() {
    this.#mark = null;
    this.render(this.#st);
    this.#post('/api/screen/pointer', { hide: true }).catch(() => {});
  }

  #openBridge() {
    this.#rebuildTimer = 0;
    const pc = new RTCPeerConnection({ iceServers: [] });
    const tx = pc.addTransceiver('video', { direction: 'sendrecv' });
    preferVP8(tx);
    const b = { pc, tx, state: 'connecting', ready: null };
    this.#bridge = b;
    const video = $('screen');
    video.srcObject = new MediaStream([tx.receiver.track]);
    pc.addEventListener('connectionstatechange', () => {
      if (this.#bridge !== b) return;
      if (pc.connectionState === 'connected') {
        this.#failures = 0;
        this.#setBridgeState(b, 'up');
      }
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.#bridgeFailed(b);
    });
    b.ready = (async () => {
      if (this.#capture) await tx.sender.replaceTrack(this.#capture);
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_WAIT);
      if (this.#bridge !== b) return;
      const res = await this.#api('POST', '/api/screen/rtc', { sdp: pc.localDescription.sdp });
      if (this.#bridge !== b) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
      await tuneSender(tx.sender);
    })();
    b.ready.catch((e) => {
      if (this.#bridge !== b) return;
      console.warn('direkt: screen bridge:', e?.message ?? e);
      this.#bridgeFailed(b);
    });
    this.#setBridgeState(b, 'connecting');
  }

  #setBridgeState(b, state) {
    b.state = state;
    $('screen-panel').dataset.bridge = state;
  }

  // bridgeFailed closes a failed bridge and builds a new one.
  #bridgeFailed(b) {
    if (this.#bridge !== b) return;
    this.#setBridgeState(b, 'failed');
    this.#bridge = null;
    try {
      b.pc.close();
    } catch {
      // already closed
    }
    const wait = this.#failures++ === 0 ? REBUILD_FIRST : REBUILD_EVERY;
    clearTimeout(this.#rebuildTimer);
    this.#rebuildTimer = setTimeout(() => {
      this.#rebuildTimer = 0;
      this.#rebuild();
    }, wait);
  }

  // rebuild opens a bridge unless one is up or coming, or none is wanted.
  // A new offer replaces the bridge of any other console tab, so a hidden
  // tab waits until it is shown, unless it captures (the adviser looks at
  // the window it shares): two open tabs would otherwise take the bridge
  // from each other.
  #rebuild() {
    const st = this.#st;
    if (this.#bridge || this.#rebuildTimer || st?.phase !== 'connected' || !st.screen) return;
    if (document.hidden && !this.#capture) return;
    this.#openBridge();
  }

  #closeBridge() {
    clearTimeout(this.#rebuildTimer);
    this.#rebuildTimer = 0;
    const b = this.#bridge;
    this.#bridge = null;
    if (!b) return;
    try {
      b.pc.close();
    } catch {
      // already closed
    }
    $('screen').srcObject = null;
  }

  /** start captures a screen, window or tab and shares it. */
  async start() {
    if (this.#capture || this.#starting) return;
    this.#starting = true;
    this.render(this.#st);
    let track = null;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { max: FRAME_RATE } }, audio: false });
      track = stream.getVideoTracks()[0];
      for (const other of stream.getTracks()) if (other !== track) other.stop();
      if ('contentHint' in track) track.contentHint = 'detail';
      this.#capture = track;
      track.addEventListener('ended', () => {
        if (this.#capture === track) this.stop();
      });
      $('share-preview').srcObject = new MediaStream([track]);
      this.#rebuild();
      const b = this.#bridge;
      if (b) {
        // A bridge that fails meanwhile is built again and takes the
        // capture then.
        await b.ready.catch(() => {});
        if (this.#bridge === b) {
          await b.tx.sender.replaceTrack(track);
          await tuneSender(b.tx.sender);
        }
      }
      if (this.#capture !== track) return;
      const s = track.getSettings();
      await this.#api('POST', '/api/screen', { action: 'start', what: surfaceKind(s.displaySurface), w: pixels(s.width), h: pixels(s.height) });
    } catch (e) {
      // The user cancelling the browser's picker is no error.
      if (e?.name !== 'NotAllowedError' && e?.name !== 'AbortError') this.#showError(e);
      if (track && this.#capture === track) this.#endCapture();
      else track?.stop();
    } finally {
      this.#starting = false;
      this.render(this.#st);
    }
  }

  /** stop ends our share: the capture, and the share on the other side. */
  stop() {
    this.#endCapture();
    this.render(this.#st);
    return this.#post('/api/screen', { action: 'stop' }).catch(() => {});
  }

  #pause() {
    const own = this.#st?.screen?.own;
    if (!own || own.state === 'off') return;
    this.#post('/api/screen', { action: own.state === 'paused' ? 'resume' : 'pause' }).catch(() => {});
  }

  #endCapture() {
    const track = this.#capture;
    this.#capture = null;
    this.#captureID = null;
    this.#mark = null;
    track?.stop();
    $('share-preview').srcObject = null;
    const b = this.#bridge;
    if (b) b.tx.sender.replaceTrack(null).catch(() => {});
  }
}
