// A page around the join page's screen panel alone, for
// browser_screen_test.go: a stand-in session and consultation that record
// what the panel asks of them, and a canvas as the adviser's picture.
// Built by the test with esbuild; not part of dist/.
import { ScreenView } from '../src/screenui.js';
import { STRINGS } from '../src/strings.js';

const calls = [];
// What goes wrong on the page shows up among the calls too.
window.addEventListener('error', (e) => calls.push(['error', String(e.message)]));
window.addEventListener('unhandledrejection', (e) => calls.push(['error', String(e.reason?.message ?? e.reason)]));
document.addEventListener('securitypolicyviolation', (e) => calls.push(['csp', e.violatedDirective]));
const session = {
  shareTrack: null,
  onvideo: null,
  async setShareTrack(track) {
    this.shareTrack = track;
    calls.push(['setShareTrack', track ? track.kind : null]);
    return true;
  },
};
let shares = 0;
const consultation = {
  share: (what, w, h) => {
    calls.push(['share', what, w, h]);
    return `c${++shares}`;
  },
  pauseShare: (paused) => calls.push(['pauseShare', paused]),
  stopShare: () => calls.push(['stopShare']),
  pointer: (...args) => calls.push(['pointer', ...args]),
  view: (on) => calls.push(['view', on]),
};
const view = new ScreenView({ session, consultation, t: STRINGS.en, onerror: (e) => calls.push(['error', String(e?.message ?? e)]) });

// The adviser's picture: 800×450, drawn all the time so frames flow.
const canvas = document.createElement('canvas');
canvas.width = 800;
canvas.height = 450;
const g = canvas.getContext('2d');
let n = 0;
(function draw() {
  g.fillStyle = n++ % 2 ? '#235' : '#236';
  g.fillRect(0, 0, 800, 450);
  requestAnimationFrame(draw);
})();
session.onvideo(canvas.captureStream(10).getVideoTracks()[0]);

window.harness = { calls, render: (screen) => view.render(screen) };
document.body.dataset.state = 'connected';
