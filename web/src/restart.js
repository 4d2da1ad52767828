// The browser's side of an ICE restart (docs/protocol.md, section 5.1). The
// host (side a) makes every offer; the browser (side b) notices a lost path,
// re-opens its mailbox (its WebSocket may have died with the network, and a
// browser cannot ping it to find out) and asks with a sealed "restart"
// signal, then answers the host's offers as at first (rtc.js). DTLS and SCTP
// carry on over the new ICE pair, so channels and what is in flight survive.
//
// Reconnector is that loop, without WebRTC or a DOM: the session feeds it
// what the browser reports and gives it the means to act, so node tests run
// it on a fake clock.

/** ASK_AGAIN is how long a request waits for the host's offer, or an offer for ICE, before asking again. */
export const ASK_AGAIN = 8_000;
/** GIVE_UP bounds an episode: the mailbox server keeps an absent side's place 60 s. */
export const GIVE_UP = 60_000;

/**
 * SILENT is how long without data from the host a path counts as lost: the
 * host sends a heartbeat on ctl every second (docs/protocol.md, section 5.1).
 */
export const SILENT = 2_500;
/**
 * SUSPECT is how long without data from the host the page already holds its
 * sends (hold.js), before it counts the path as lost: one heartbeat missed.
 */
export const SUSPECT = 1_500;
/** POLL is how often the session reads its candidate pairs' counters. */
export const POLL = 500;

/**
 * pairActivity reads whether data arrived on the selected candidate pair
 * since the last report. Only payload bytes count, not STUN: after a NAT
 * flush Chromium's own consent checks went on being answered (over a new
 * mapping) for 15 s while the host's data went to the old one, and an
 * unplugged path stayed "connected" as long. Only the selected pair counts:
 * Chromium keeps checking backup pairs. It returns every pair's byte count
 * by id, for the next call, and whether the selected pair's grew; a pair not
 * seen before sets its baseline.
 * @param {Iterable<object>} stats the report's values
 * @param {Map<string, number>} prev the counts of the last call
 */
export function pairActivity(stats, prev) {
  const counts = new Map();
  const byID = new Map();
  let selected = null;
  let fallback = null;
  for (const st of stats) {
    if (!st) continue;
    byID.set(st.id, st);
    if (st.type === 'transport' && st.selectedCandidatePairId) selected = st.selectedCandidatePairId;
    if (st.type === 'candidate-pair') {
      counts.set(st.id, st.bytesReceived ?? 0);
      if (!fallback && (st.selected || (st.nominated && st.state === 'succeeded'))) fallback = st.id;
    }
  }
  const id = selected && byID.has(selected) ? selected : fallback;
  const active = id !== null && prev.has(id) && counts.get(id) > prev.get(id);
  return { counts, active };
}

/**
 * Reconnector tracks whether the path is up and runs restart episodes.
 * @param {object} o
 * @param {() => Promise<void>} o.reopen re-opens the mailbox on a fresh WebSocket
 * @param {() => boolean} o.mailboxUp whether the mailbox's WebSocket is usable
 * @param {() => void} o.ask sends the sealed "restart" signal
 * @param {() => boolean} o.online whether the browser thinks it is online (navigator.onLine)
 * @param {(state: string, info: object) => void} [o.onstate] "reconnecting" ({why}), "up" ({pause} ms), "failed"
 * @param {(msg: string) => void} [o.log] what it does, for the browser's console
 * @param {() => number} [o.now]
 * @param {typeof setTimeout} [o.setTimeout]
 * @param {typeof clearTimeout} [o.clearTimeout]
 */
export class Reconnector {
  /** state is "up", "reconnecting", "failed" or "closed". */
  state = 'up';
  /** episodes counts restart episodes; asks counts restart requests sent. */
  episodes = 0;
  asks = 0;
  #o;
  #now;
  #set;
  #clear;
  #since = 0; // when the running episode began
  #lastOffer = -Infinity;
  #force = false; // re-open the mailbox before the next request
  #wake = null; // resolves the episode's wait

  constructor(o) {
    this.#o = o;
    this.#now = o.now ?? (() => Date.now());
    this.#set = o.setTimeout ?? ((f, d) => setTimeout(f, d));
    this.#clear = o.clearTimeout ?? ((t) => clearTimeout(t));
  }

  /** since is when the running episode began. */
  get since() {
    return this.#since;
  }

  /** lost reports that the path is gone (ICE disconnected or failed, the browser went offline). */
  lost(why) {
    if (this.state !== 'up') return;
    this.state = 'reconnecting';
    this.episodes++;
    this.#since = this.#now();
    this.#force = true;
    this.#o.onstate?.('reconnecting', { why });
    this.#run().catch(() => this.#fail());
  }

  /**
   * network reports that the network changed (online again, another
   * connection type). While reconnecting it asks again at once, over a
   * fresh mailbox connection; while up it starts an episode, since the
   * selected pair may use an address that is gone.
   */
  network(why) {
    if (this.state === 'up') return this.lost(why);
    if (this.state !== 'reconnecting') return;
    this.#force = true;
    this.#lastOffer = -Infinity;
    this.#poke('network');
  }

  /** offered reports that a restart offer from the host was answered: its attempt runs. */
  offered() {
    this.#lastOffer = this.#now();
    this.#poke('offer');
  }

  /** up reports that ICE is connected again. */
  up() {
    if (this.state !== 'reconnecting') return;
    this.state = 'up';
    this.#o.onstate?.('up', { pause: this.#now() - this.#since });
    this.#poke('up');
  }

  /** close stops everything; nothing is reported after it. */
  close() {
    this.state = 'closed';
    this.#poke('closed');
  }

  #poke(why) {
    const w = this.#wake;
    this.#wake = null;
    w?.(why);
  }

  #fail() {
    if (this.state !== 'reconnecting') return;
    this.state = 'failed';
    this.#o.onstate?.('failed', {});
  }

  #wait(ms) {
    return new Promise((resolve) => {
      const t = this.#set(() => {
        this.#wake = null;
        resolve('timeout');
      }, Math.max(0, ms));
      this.#wake = (why) => {
        this.#clear(t);
        resolve(why);
      };
    });
  }

  async #run() {
    let asked = -Infinity;
    let offers = -Infinity; // #lastOffer when we last asked
    while (this.state === 'reconnecting') {
      const now = this.#now();
      if (this.#since + GIVE_UP - now <= 0) return this.#fail();
      // Ask when nothing is under way: no request or offer in the last
      // ASK_AGAIN, or the network changed since. A request that brought no
      // offer may have gone into a dead WebSocket (a browser cannot tell),
      // so the next one goes over a fresh one.
      const busy = now - Math.max(asked, this.#lastOffer) < ASK_AGAIN;
      if (Number.isFinite(asked) && !busy && this.#lastOffer === offers) this.#force = true;
      if ((this.#force || !busy) && this.#o.online()) {
        if (this.#force || !this.#o.mailboxUp()) {
          this.#force = false;
          const t0 = this.#now();
          try {
            await this.#o.reopen();
            this.#o.log?.(`mailbox re-opened in ${this.#now() - t0} ms`);
          } catch (e) {
            // The mailbox is gone for good: no more signalling, but the
            // path may still come back by itself until GIVE_UP.
            this.#o.log?.(`mailbox not re-opened: ${e?.message ?? e}`);
          }
          if (this.state !== 'reconnecting') return;
        }
        if (this.#o.mailboxUp()) {
          this.#o.ask();
          this.asks++;
          this.#o.log?.(`asked for an ICE restart (${this.asks})`);
          asked = this.#now();
          offers = this.#lastOffer;
        }
      }
      const since = Math.max(asked, this.#lastOffer);
      const next = Number.isFinite(since) ? since + ASK_AGAIN - this.#now() : ASK_AGAIN;
      await this.#wait(Math.min(Math.max(next, 50), this.#since + GIVE_UP - this.#now()));
    }
  }
}
