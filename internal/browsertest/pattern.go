package browsertest

import _ "embed"

// PatternJS defines window.directkPattern in a page (run it with
// chromedp.Evaluate, or put it in a <script>):
//
//   - start(fps) draws an 800×450 test pattern on a new canvas, fps times a
//     second (15 when omitted), and returns {canvas, stream}, stream being
//     canvas.captureStream(fps). The picture carries Date.now() in ms and a
//     frame counter as large black and white blocks that survive VP8, above
//     a static region.
//   - watch(stream) shows a received stream in video[data-testid=decoded]
//     and decodes each displayed frame (requestVideoFrameCallback).
//   - results(clear) returns {frames, decoded, bad, lastCounter, latencies,
//     width, height}: frames displayed, frames whose blocks decoded (each
//     counter once), frames that did not decode, and the latency of each
//     decoded frame in ms, Date.now() at display minus the time it was
//     drawn (one machine, one clock). clear empties latencies.
//
//go:embed pattern.js
var PatternJS string

// PatternResults is what window.directkPattern.results() returns.
type PatternResults struct {
	Frames, Decoded, Bad int
	LastCounter          int
	Width, Height        int
	// Latencies of the decoded frames in ms, oldest first.
	Latencies []float64
}
