// Holding what the page writes while its path is lost (docs/protocol.md,
// section 5.1). Firefox fails its DTLS transport, and with it SCTP and every
// channel, as soon as sending a packet fails at the socket (the interface
// down, its address gone); a page that sends nothing meanwhile survives the
// ICE restart. So every write to a data channel goes through one SendHold:
// while the session suspects or knows that its path is lost, writes wait in
// one queue, in the order they were made, and go out in that order once the
// path is back. Chromium loses nothing by it: what it would have sent
// waits for the same path in its own SCTP.

/**
 * SendHold passes writes to data channels through, or keeps them in order
 * while held. A channel's send and close both go through it: SCTP sends a
 * stream reset for a close.
 */
export class SendHold {
  /** why is "" when writes pass, else why they are held ("suspect", "reconnecting"). */
  why = '';
  #queue = []; // {dc, data} or {dc, close: true}, in order
  #waiters = [];
  #closed = false;

  get held() {
    return this.why !== '';
  }

  /** queued is how many writes wait. */
  get queued() {
    return this.#queue.length;
  }

  /** hold holds every write from now on; a stronger reason replaces "suspect". */
  hold(why) {
    if (this.#closed) return;
    if (!this.why || this.why === 'suspect') this.why = why;
  }

  /**
   * release sends what waits, in order, then lets writes pass. A write to a
   * channel that closed meanwhile is dropped (its data went nowhere
   * anyway). It returns how many writes went out.
   */
  release() {
    if (!this.why) return 0;
    this.why = '';
    let n = 0;
    // A send may throw (a closed channel, a full buffer): the rest go on.
    for (const w of this.#queue.splice(0)) {
      if (w.dc.readyState === 'closing' || w.dc.readyState === 'closed') continue;
      try {
        if (w.close) w.dc.close();
        else w.dc.send(w.data);
        n++;
      } catch {
        // that channel is gone
      }
    }
    for (const f of this.#waiters.splice(0)) f();
    return n;
  }

  /** send writes data to dc now, or queues it while held or while others wait. */
  send(dc, data) {
    if (this.why || this.#queue.length) {
      if (!this.#closed) this.#queue.push({ dc, data });
      return;
    }
    dc.send(data);
  }

  /** close closes dc now, or after what waits before it. */
  close(dc) {
    if (this.why || this.#queue.length) {
      if (!this.#closed) this.#queue.push({ dc, close: true });
      return;
    }
    dc.close();
  }

  /** ready resolves once writes pass (at once if they do). A writer that streams awaits it before each write, so nothing piles up here. */
  ready() {
    if (!this.why || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** shut drops what waits and lets every waiter go: the session ended. */
  shut() {
    this.#closed = true;
    this.why = '';
    this.#queue = [];
    for (const f of this.#waiters.splice(0)) f();
  }
}
