// A test pattern for screen-sharing tests (browsertest.PatternJS). It
// defines window.direktPattern:
//
//   capture({width, height, fps, still, scroll}) → MediaStream
//     a canvas that looks like a document (lines of text) with, at its top
//     left, the time of each frame (Date.now(), ms) and a frame counter as
//     an 8×8 grid of black and white cells, 32 px each, big enough to
//     survive a starved VP8 encoder. With still: true the time is drawn
//     once and every frame repeats the same picture (a static document);
//     with scroll: N the text moves up N pixels a frame (someone scrolls).
//   watch(video, {width, height})
//     decodes every frame the video element shows (requestVideoFrameCallback)
//     and keeps the results in direktPattern.results: frames seen, frames
//     decoded, the latency of each (now − the time in the frame; same
//     machine, same clock), the time of the first decoded frame, and the
//     size of the last frame.
//   summary(sinceMs) → {frames, decoded, bad, median, p95, max, first, w, h}
//     latencies of frames shown at or after sinceMs (Date.now() clock).
//
// Frames whose checksum does not match (torn, or a picture that is no
// pattern) count as bad, not decoded.
(() => {
  if (window.direktPattern) return;
  const CELL = 32;
  const ORIGIN = 16;
  const GRID = 8;

  // bits of a frame: 48 bits of time, 8 of the counter, 8 of checksum.
  function encode(ms, n) {
    const bytes = [];
    let t = ms;
    for (let i = 0; i < 6; i++) {
      bytes.push(t % 256);
      t = Math.floor(t / 256);
    }
    bytes.push(n & 0xff);
    bytes.push((bytes.reduce((a, b) => a + b, 0) & 0xff) ^ 0xa5);
    const bits = [];
    for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
    return bits;
  }

  function decode(bits) {
    const bytes = [];
    for (let i = 0; i < 8; i++) {
      let b = 0;
      for (let j = 0; j < 8; j++) b = (b << 1) | bits[i * 8 + j];
      bytes.push(b);
    }
    const sum = (bytes.slice(0, 7).reduce((a, b) => a + b, 0) & 0xff) ^ 0xa5;
    if (sum !== bytes[7]) return null;
    let ms = 0;
    for (let i = 5; i >= 0; i--) ms = ms * 256 + bytes[i];
    return { ms, n: bytes[6] };
  }

  // drawDocument paints the page: lines of text below the code, scrolled
  // up by offset pixels (20 a line).
  function drawDocument(g, w, h, offset = 0) {
    g.fillStyle = '#fff';
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#222';
    g.font = '14px sans-serif';
    const words = 'Entgeltumwandlung Nettoaufwand Arbeitgeberzuschuss Beitrag Versorgung Rente Steuer Sozialversicherung';
    const top = ORIGIN + GRID * CELL + 8;
    g.save();
    g.beginPath();
    g.rect(0, top, w, h - top);
    g.clip();
    const first = Math.floor(offset / 20);
    for (let i = first, y = top + 20 - (offset % 20); y < h + 20; y += 20, i++) {
      g.fillText(`${i + 1}. ${words.slice(i % 20)} ${words.slice(0, 30 + (i % 40))}`, 16, y);
    }
    g.restore();
    g.fillText('direkt test pattern', ORIGIN + GRID * CELL + 24, 40);
  }

  function drawCode(g, ms, n) {
    const bits = encode(ms, n);
    for (let i = 0; i < GRID * GRID; i++) {
      g.fillStyle = bits[i] ? '#fff' : '#000';
      g.fillRect(ORIGIN + (i % GRID) * CELL, ORIGIN + Math.floor(i / GRID) * CELL, CELL, CELL);
    }
  }

  const results = { frames: 0, decoded: 0, bad: 0, shown: [], first: 0, w: 0, h: 0 };

  window.direktPattern = {
    results,
    capture({ width = 800, height = 450, fps = 15, still = false, scroll = 0 } = {}) {
      const c = document.createElement('canvas');
      c.width = width;
      c.height = height;
      const g = c.getContext('2d');
      drawDocument(g, width, height);
      let n = 0;
      drawCode(g, Date.now(), n++);
      const stream = c.captureStream(fps);
      // A still picture is painted again unchanged every frame, as a
      // screen capturer delivers frames of a document nobody scrolls.
      const t0 = Date.now();
      let offset = 0;
      const timer = setInterval(() => {
        if (still) return drawCode(g, t0, 0);
        if (scroll) drawDocument(g, width, height, (offset += scroll));
        drawCode(g, Date.now(), n++);
      }, 1000 / fps);
      stream.getVideoTracks()[0].addEventListener('ended', () => clearInterval(timer));
      this.stop = () => clearInterval(timer);
      // Kept so the canvas is not collected while the stream lives.
      this.canvas = c;
      return stream;
    },
    watch(video, { width = 800, height = 450 } = {}) {
      const c = document.createElement('canvas');
      const g = c.getContext('2d', { willReadFrequently: true });
      const step = () => {
        const now = Date.now();
        const vw = video.videoWidth;
        const vh = video.videoHeight;
        if (vw > 0 && vh > 0) {
          if (c.width !== vw || c.height !== vh) {
            c.width = vw;
            c.height = vh;
          }
          g.drawImage(video, 0, 0, vw, vh);
          results.frames++;
          results.w = vw;
          results.h = vh;
          const sx = vw / width;
          const sy = vh / height;
          const bits = [];
          for (let i = 0; i < GRID * GRID; i++) {
            const x = Math.round((ORIGIN + (i % GRID) * CELL + CELL / 2) * sx);
            const y = Math.round((ORIGIN + Math.floor(i / GRID) * CELL + CELL / 2) * sy);
            const d = g.getImageData(x - 2, y - 2, 4, 4).data;
            let lum = 0;
            for (let k = 0; k < d.length; k += 4) lum += d[k] * 0.299 + d[k + 1] * 0.587 + d[k + 2] * 0.114;
            bits.push(lum / 16 > 128 ? 1 : 0);
          }
          const f = decode(bits);
          if (f && Math.abs(now - f.ms) < 60000) {
            results.decoded++;
            if (!results.first) results.first = now;
            results.shown.push([now, now - f.ms]);
          } else {
            results.bad++;
          }
        }
        video.requestVideoFrameCallback(step);
      };
      video.requestVideoFrameCallback(step);
    },
    summary(sinceMs = 0) {
      const lat = results.shown.filter(([at]) => at >= sinceMs).map(([, l]) => l).sort((a, b) => a - b);
      const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : -1);
      return {
        frames: results.frames, decoded: results.decoded, bad: results.bad, count: lat.length,
        median: q(0.5), p95: q(0.95), max: lat.length ? lat[lat.length - 1] : -1,
        first: results.first, w: results.w, h: results.h,
      };
    },
  };
})();
