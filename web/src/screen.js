// Screen sharing on the join page (docs/screen.md), the parts without a
// browser: where a video section is in the host's offer, where a shared
// picture shows in its element, and where a click on it points.

/**
 * videoSection finds the first video m-line of an SDP that is in use (port
 * a port, not 0): {mid, direction, index}, or null. index counts m-lines from 0;
 * direction is the section's a=sendrecv/sendonly/recvonly/inactive
 * ("sendrecv" when it has none, RFC 8866 section 6.7).
 */
export function videoSection(sdp) {
  const lines = String(sdp).split(/\r?\n/);
  let index = -1;
  let cur = null;
  const found = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      index++;
      const f = line.slice(2).split(' ');
      const port = f[1] ?? '';
      cur = f[0] === 'video' && /^[0-9]{1,5}$/.test(port) && Number(port) > 0 ? { mid: null, direction: 'sendrecv', index } : null;
      if (cur) found.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('a=mid:')) cur.mid = line.slice(6).trim();
    else if (/^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.test(line)) cur.direction = line.slice(2).trim();
  }
  return found[0] ?? null;
}

/**
 * videoTransceiver picks the transceiver of an offer's video section in
 * pc: by mid, else the first video transceiver. null when the offer has
 * none (a host or browser without screen sharing).
 */
export function videoTransceiver(pc, sdp) {
  const sec = videoSection(sdp);
  if (!sec) return null;
  const txs = pc.getTransceivers?.() ?? [];
  return (
    txs.find((t) => sec.mid !== null && t.mid === sec.mid) ??
    txs.find((t) => !t.stopped && t.receiver?.track?.kind === 'video') ??
    null
  );
}

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

/** pointerAt is where, in the element's pixels, the fraction x, y of the picture shows. */
export function pointerAt(ew, eh, w, h, x, y) {
  const r = containRect(ew, eh, w, h);
  return { left: r.x + x * r.w, top: r.y + y * r.h };
}

/**
 * fractionAt is the inverse: which fraction of the picture is at px, py
 * of the element, or null on the letterbox (or without a picture).
 */
export function fractionAt(ew, eh, w, h, px, py) {
  const r = containRect(ew, eh, w, h);
  if (!(r.w > 0 && r.h > 0)) return null;
  const x = (px - r.x) / r.w;
  const y = (py - r.y) / r.h;
  if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return null;
  return { x, y };
}

/** surfaceKind maps a track's displaySurface to what a share says it shows. */
export function surfaceKind(s) {
  return { monitor: 'screen', window: 'window', browser: 'tab' }[s] ?? 'other';
}

/** pixels is a size as a share states it: an integer 0–16384. */
export function pixels(n) {
  return Math.min(16384, Math.max(0, Math.round(Number(n) || 0)));
}

/** SHARE_FPS is what a share sends at most (docs/screen.md). */
export const SHARE_FPS = 15;

/**
 * tuneSender keeps a share at SHARE_FPS frames a second and lets its
 * resolution stay; a browser without the knobs (or a sender not yet
 * negotiated) keeps its defaults.
 */
export async function tuneSender(sender) {
  // A browser that refuses degradationPreference may still take the
  // frame rate: try again without it.
  for (const keep of [true, false]) {
    try {
      const p = sender.getParameters();
      if (!p.encodings || p.encodings.length === 0) return false;
      for (const e of p.encodings) e.maxFramerate = SHARE_FPS;
      if (keep) p.degradationPreference = 'maintain-resolution';
      await sender.setParameters(p);
      return true;
    } catch {
      // next
    }
  }
  return false;
}
