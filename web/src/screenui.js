// The join page's screen panel (docs/screen.md): the adviser's share on the
// session's video transceiver, with its pointer, and the client's own share
// back on the same transceiver. Driven by consultation.state.screen; the
// consultation sends the control messages, the session carries the pixels.

import { fractionAt, pixels, pointerAt, SHARE_FPS, surfaceKind } from './screen.js';

const $ = (id) => document.getElementById(id);

/** canCapture says whether this browser can share a screen at all (phones cannot). */
export function canCapture() {
  return typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** screenHello says whether the pairing hello may say "screen": 1: the browser can view a share and share back without a new offer. */
export function screenHello() {
  return typeof RTCRtpTransceiver !== 'undefined' && typeof RTCRtpSender !== 'undefined' && 'replaceTrack' in RTCRtpSender.prototype;
}

// pictureSize is the size of what video shows: its frames' once they
// arrive, else what the share said.
function pictureSize(video, share) {
  if (video.videoWidth > 0 && video.videoHeight > 0) return [video.videoWidth, video.videoHeight];
  return [share?.w || 0, share?.h || 0];
}

/**
 * ScreenView renders the screen panel. t is the page's strings; onerror
 * shows a failed action.
 */
export class ScreenView {
  #session;
  #c;
  #t;
  #onerror;
  #s = null; // the last consultation state's screen
  #capture = null; // the track we share
  #captureID = null; // the id of the share the capture runs as
  #starting = false;
  #fit = true;
  #unobserve = null;

  constructor({ session, consultation, t, onerror }) {
    this.#session = session;
    this.#c = consultation;
    this.#t = t;
    this.#onerror = onerror ?? ((e) => console.warn('direkt: screen:', e));
    session.onvideo = (track) => {
      $('screen-video').srcObject = track ? new MediaStream([track]) : null;
    };
    this.#wire();
    this.#labels();
  }

  #wire() {
    const on = (id, f) => {
      const e = $(id);
      const h = (ev) => f(ev);
      e.addEventListener('click', h);
      return () => e.removeEventListener('click', h);
    };
    const offs = [
      on('share-screen', () => this.start()),
      on('share-pause', () => this.#pause()),
      on('share-stop', () => this.stop()),
      on('share-preview', (ev) => this.#point(ev)),
      on('share-pointer-hide', () => this.#call(() => this.#c.pointer(null))),
      on('screen-fit', () => {
        this.#fit = !this.#fit;
        this.render(this.#s);
      }),
      on('screen-view', () => {
        const peer = this.#s?.peer;
        if (peer) this.#call(() => this.#c.view(!peer.viewing));
      }),
    ];
    const place = () => this.#layout();
    const video = $('screen-video');
    video.addEventListener('loadedmetadata', place);
    video.addEventListener('resize', place);
    // A new size of the video only moves the pointer: sizing it here again
    // would loop.
    let ro = null;
    if (typeof ResizeObserver !== 'undefined') {
      ro = new ResizeObserver(() => this.#placePointer());
      ro.observe(video);
    }
    window.addEventListener('resize', place);
    // 1:1 is one picture pixel per device pixel: lay out again when the
    // ratio changes (zoom, another screen).
    let mq = null;
    const ratio = () => {
      place();
      watch();
    };
    const watch = () => {
      mq = window.matchMedia?.(`(resolution: ${window.devicePixelRatio || 1}dppx)`) ?? null;
      mq?.addEventListener?.('change', ratio, { once: true });
    };
    watch();
    this.#unobserve = () => {
      mq?.removeEventListener?.('change', ratio);
      for (const off of offs) off();
      video.removeEventListener('loadedmetadata', place);
      video.removeEventListener('resize', place);
      ro?.disconnect();
      window.removeEventListener('resize', place);
    };
  }

  #labels() {
    const t = this.#t;
    $('screen-title-own').textContent = t.screenShareTitle;
    $('share-screen').textContent = t.screenShare;
    $('share-stop').textContent = t.screenStop;
    $('share-pointer-hide').textContent = t.screenHidePointer;
    $('share-hint').textContent = t.screenPointHint;
    $('screen-paused').textContent = t.screenPaused;
    $('screen-notviewing').textContent = t.screenNotViewing;
  }

  #call(f) {
    try {
      const r = f();
      if (r && typeof r.catch === 'function') r.catch((e) => this.#onerror(e));
    } catch (e) {
      this.#onerror(e);
    }
  }

  /** render shows the consultation's screen state (null: none). */
  render(screen) {
    const t = this.#t;
    this.#s = screen ?? null;
    const panel = $('screen-panel');
    panel.hidden = !screen;
    if (!screen) {
      if (this.#capture) this.#endCapture();
      return;
    }
    // A share that ended without us (the consultation stopped it) ends
    // the capture too.
    if (this.#capture && screen.own && !this.#starting) {
      if (screen.own.state !== 'off') this.#captureID = screen.own.id;
      else if (screen.own.id === this.#captureID) this.#endCapture();
    }
    const own = screen.own && screen.own.state !== 'off' ? screen.own : null;
    const peer = screen.peer && screen.peer.state !== 'off' ? screen.peer : null;
    panel.dataset.own = own ? own.state : 'none';
    panel.dataset.peer = peer ? peer.state : 'none';

    // Our share: on our own initiative, where the browser can capture.
    const sharing = Boolean(own || this.#capture);
    const start = $('share-screen');
    start.hidden = !canCapture();
    start.disabled = sharing || this.#starting || screen.canShare === false;
    const paused = own?.state === 'paused';
    const pause = $('share-pause');
    pause.hidden = !own;
    pause.dataset.paused = String(paused);
    pause.textContent = paused ? t.screenResume : t.screenPause;
    $('share-stop').hidden = !sharing;
    $('share-pointer-hide').hidden = !own;
    const viewing = $('share-viewing');
    viewing.hidden = !own;
    viewing.dataset.viewing = String(Boolean(own?.viewing));
    viewing.textContent = own ? (own.viewing ? t.screenViewing : t.screenNotViewingPeer) : '';
    $('share-own').hidden = !this.#capture;
    $('screen-own').hidden = start.hidden && !sharing;
    // A phone that cannot share shows the panel only for the adviser's share.
    panel.hidden = !peer && start.hidden && !sharing;
    // Paused: nothing goes out; the capture stays for the resume.
    if (this.#capture) {
      const want = paused ? null : this.#capture;
      if (this.#session.shareTrack !== want) this.#session.setShareTrack(want).catch((e) => this.#onerror(e));
    }

    // The adviser's share.
    $('peer-screen').hidden = !peer;
    $('screen-title').textContent = peer ? t.screenPeer(t.screenWhat[peer.what] ?? t.screenWhat.other) : '';
    const view = $('screen-view');
    view.dataset.viewing = String(Boolean(peer?.viewing));
    view.textContent = peer?.viewing ? t.screenStopView : t.screenResumeView;
    $('screen-fit').textContent = this.#fit ? t.screenActual : t.screenFit;
    $('screen-box').dataset.fit = this.#fit ? 'fit' : '1:1';
    $('screen-paused').hidden = peer?.state !== 'paused';
    $('screen-notviewing').hidden = !peer || peer.viewing;
    this.#layout();
  }

  // sizeVideo gives the peer's video its size. To fit, it is as wide as
  // the panel and as high as the picture's aspect makes it, at most 75 %
  // of the window's height (then letterboxed at the sides); 1:1, one
  // picture pixel per device pixel, the box scrolling.
  #sizeVideo(peer) {
    const v = $('screen-video');
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
    const peer = this.#s?.peer;
    this.#sizeVideo(peer && peer.state !== 'off' ? peer : null);
    this.#placePointer();
  }

  #placePointer() {
    const ptr = $('screen-pointer');
    const peer = this.#s?.peer;
    const p = peer && peer.state !== 'off' ? peer.pointer : null;
    if (!p) {
      ptr.hidden = true;
      return;
    }
    const v = $('screen-video');
    const [w, h] = pictureSize(v, peer);
    const at = pointerAt(v.clientWidth, v.clientHeight, w, h, p.x, p.y);
    ptr.style.left = `${v.offsetLeft + at.left}px`;
    ptr.style.top = `${v.offsetTop + at.top}px`;
    ptr.hidden = false;
  }

  // point: a click on our preview shows the adviser that place.
  #point(ev) {
    const own = this.#s?.own;
    if (!own || own.state === 'off') return;
    const v = $('share-preview');
    const b = v.getBoundingClientRect();
    const [w, h] = pictureSize(v, own);
    const f = fractionAt(b.width, b.height, w, h, ev.clientX - b.left, ev.clientY - b.top);
    if (f) this.#call(() => this.#c.pointer(f.x, f.y));
  }

  /** start captures a screen, window or tab and shares it with the adviser. */
  async start() {
    if (this.#capture || this.#starting || !canCapture()) return;
    this.#starting = true;
    this.render(this.#s);
    let track = null;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { max: SHARE_FPS } }, audio: false });
      track = stream.getVideoTracks()[0];
      for (const other of stream.getTracks()) if (other !== track) other.stop();
      if ('contentHint' in track) track.contentHint = 'detail';
      this.#capture = track;
      track.addEventListener('ended', () => {
        if (this.#capture === track) this.stop();
      });
      $('share-preview').srcObject = new MediaStream([track]);
      await this.#session.setShareTrack(track);
      const s = track.getSettings?.() ?? {};
      const id = await this.#c.share(surfaceKind(s.displaySurface), pixels(s.width), pixels(s.height));
      if (typeof id === 'string' && this.#capture === track) this.#captureID = id;
    } catch (e) {
      // Cancelling the browser's picker is no error.
      if (e?.name !== 'NotAllowedError' && e?.name !== 'AbortError') this.#onerror(e);
      if (track && this.#capture === track) this.#endCapture();
      else track?.stop();
    } finally {
      this.#starting = false;
      this.render(this.#s);
    }
  }

  /** stop ends our share. */
  stop() {
    const had = this.#capture !== null || Boolean(this.#s?.own && this.#s.own.state !== 'off');
    this.#endCapture();
    if (had) this.#call(() => this.#c.stopShare());
    this.render(this.#s);
  }

  #pause() {
    const own = this.#s?.own;
    if (own && own.state !== 'off') this.#call(() => this.#c.pauseShare(own.state !== 'paused'));
  }

  #endCapture() {
    const track = this.#capture;
    this.#capture = null;
    this.#captureID = null;
    track?.stop();
    $('share-preview').srcObject = null;
    if (this.#session.shareTrack) this.#session.setShareTrack(null).catch(() => {});
  }

  /** close stops our share and forgets the session (the consultation ended). */
  close() {
    this.#endCapture();
    this.#unobserve?.();
    this.#session.onvideo = null;
    $('screen-video').srcObject = null;
    $('screen-panel').hidden = true;
  }
}
