// A test pattern for video tests (browsertest.PatternJS): a canvas whose
// picture carries the time it was drawn and a frame counter as large black
// and white blocks that survive VP8, and a decoder that reads them back from
// a received video and records the latency from drawing to display.
//
// Layout: 4 rows of 32 blocks, each block 1/32 of the width and 40/450 of
// the height. Row 0 holds bits 47..16 of Date.now(), row 1 bits 15..0 and
// then the 16-bit frame counter; rows 2 and 3 repeat rows 0 and 1 inverted,
// so that a frame smeared by the encoder is recognised and skipped. Below
// them a static picture (stripes and text) that never changes.
(() => {
  if (window.directkPattern) return;
  const COLS = 32, ROWS = 4, ROWH = 40, W = 800, H = 450;

  function bitsOf(ms, counter) {
    // Date.now() fits 48 bits until the year 10889.
    const hi = Math.floor(ms / 65536), lo = ms % 65536;
    const r0 = [], r1 = [];
    for (let i = 31; i >= 0; i--) r0.push(Math.floor(hi / 2 ** i) % 2);
    for (let i = 15; i >= 0; i--) r1.push(Math.floor(lo / 2 ** i) % 2);
    for (let i = 15; i >= 0; i--) r1.push(Math.floor(counter / 2 ** i) % 2);
    return [r0, r1, r0.map((b) => 1 - b), r1.map((b) => 1 - b)];
  }

  function drawStatic(ctx) {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, ROWS * ROWH, W, H - ROWS * ROWH);
    for (let x = 0; x < W; x += 40) {
      ctx.fillStyle = `hsl(${(x * 7) % 360}, 60%, 60%)`;
      ctx.fillRect(x, ROWS * ROWH + 20, 20, 120);
    }
    ctx.fillStyle = '#000';
    ctx.font = '28px sans-serif';
    for (let y = ROWS * ROWH + 180; y < H; y += 40) {
      ctx.fillText('direkt test pattern: a static text region ' + y, 20, y);
    }
  }

  // start draws the pattern at fps frames per second and returns the canvas
  // and its captureStream(fps).
  function start(fps) {
    fps = fps || 15;
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = H;
    canvas.dataset.testid = 'pattern';
    document.body.appendChild(canvas);
    const ctx = canvas.getContext('2d');
    drawStatic(ctx);
    let counter = 0;
    const draw = () => {
      const rows = bitsOf(Date.now(), counter);
      counter = (counter + 1) % 65536;
      const bw = W / COLS;
      for (let r = 0; r < ROWS; r++) {
        for (let c = 0; c < COLS; c++) {
          ctx.fillStyle = rows[r][c] ? '#fff' : '#000';
          ctx.fillRect(c * bw, r * ROWH, bw, ROWH);
        }
      }
      window.directkPattern.drawn = counter;
    };
    draw();
    // Timers, not requestAnimationFrame: rAF stops in a hidden tab.
    const timer = setInterval(draw, 1000 / fps);
    const stream = canvas.captureStream(fps);
    window.directkPattern.stop = () => clearInterval(timer);
    return { canvas, stream };
  }

  // decode reads the blocks of a W×H picture in data (ImageData); it
  // returns {ms, counter} or null when the rows do not check out.
  function decode(img) {
    const { width, height, data } = img;
    const rows = [];
    for (let r = 0; r < ROWS; r++) {
      const row = [];
      const y = Math.floor(((r + 0.5) * ROWH * height) / H);
      for (let c = 0; c < COLS; c++) {
        const x = Math.floor(((c + 0.5) * width) / COLS);
        const i = (y * width + x) * 4;
        const lum = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        row.push(lum > 128 ? 1 : 0);
      }
      rows.push(row);
    }
    for (let c = 0; c < COLS; c++) {
      if (rows[0][c] === rows[2][c] || rows[1][c] === rows[3][c]) return null;
    }
    let hi = 0, lo = 0, counter = 0;
    for (let c = 0; c < 32; c++) hi = hi * 2 + rows[0][c];
    for (let c = 0; c < 16; c++) lo = lo * 2 + rows[1][c];
    for (let c = 16; c < 32; c++) counter = counter * 2 + rows[1][c];
    return { ms: hi * 65536 + lo, counter };
  }

  // watch shows stream in a video element and decodes every frame it
  // displays; results() reports what it saw.
  function watch(stream) {
    let video = document.querySelector('video[data-testid=decoded]');
    if (!video) {
      video = document.createElement('video');
      video.dataset.testid = 'decoded';
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.appendChild(video);
    }
    video.srcObject = stream;
    video.play().catch(() => {});
    if (video.directkWatched) return;
    video.directkWatched = true;
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const res = window.directkPattern.res;
    const onFrame = () => {
      const now = Date.now();
      const w = video.videoWidth, h = video.videoHeight;
      if (w > 0 && h > 0) {
        res.frames++;
        res.width = w;
        res.height = h;
        canvas.width = w;
        canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        const got = decode(ctx.getImageData(0, 0, w, h));
        if (got && got.ms <= now && now - got.ms < 60000) {
          if (got.counter !== res.lastCounter) {
            res.decoded++;
            res.lastCounter = got.counter;
            res.latencies.push(now - got.ms);
            if (res.latencies.length > 10000) res.latencies.shift();
          }
        } else {
          res.bad++;
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  window.directkPattern = {
    start,
    watch,
    decode,
    drawn: 0,
    res: { frames: 0, decoded: 0, bad: 0, lastCounter: -1, latencies: [], width: 0, height: 0 },
    // results returns the counts; results(true) also empties latencies.
    results(clear) {
      const r = JSON.parse(JSON.stringify(window.directkPattern.res));
      if (clear) window.directkPattern.res.latencies = [];
      return r;
    },
  };
})();
