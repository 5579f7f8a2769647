// The well-behaved crowd: kept at a target size, with a share of it replaced every minute
// (churn), and every client's outcome counted in Stats.
import { Chatter } from './chatter.mjs';

export class Stats {
  started = 0;
  startFailures = 0;
  retired = 0;
  sent = 0;          // chat messages sent by well-behaved clients
  acked = 0;         // … whose echo came back to the sender
  liveFrames = 0;    // message frames received (every receiver counts)
  talkShaped = 0;    // talk-shaped frames received before hello took effect (allowed)
  switches = 0;      // room switches completed
  counters = new Map();  // category → Map(key → n): errors, dropped, stuck, …

  count(category, key) {
    if (!this.counters.has(category)) this.counters.set(category, new Map());
    const byKey = this.counters.get(category);
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  }

  total(category) {
    let n = 0;
    for (const v of this.counters.get(category)?.values() ?? []) n += v;
    return n;
  }

  describe(category) {
    const byKey = this.counters.get(category);
    return byKey ? [...byKey].map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
  }
}

export class Population {
  constructor(world) {
    this.world = world;          // { opts, stats, … } shared with every Chatter
    this.live = new Set();
    this.pending = new Set();    // retirements in progress
    this.nextN = 1;
    this.churnDebt = 0;
  }

  /** One second of life: retire the churn share, then top up towards the target. */
  tick(seconds) {
    const { connections, churnPerMin, rampPerSec } = this.world.opts;
    for (const c of this.live) if (c.closed) this.live.delete(c);
    this.churnDebt += connections * (churnPerMin / 100) * (seconds / 60);
    for (; this.churnDebt >= 1; this.churnDebt--) this.#retireOne();
    const missing = connections - this.live.size;
    for (let i = 0; i < Math.min(missing, rampPerSec * seconds); i++) this.#startOne();
  }

  /** Retires everyone (`concurrency` at a time) and waits for the churned ones too. */
  async retireAll(concurrency = 200) {
    const everyone = [...this.live];
    this.live.clear();
    for (let i = 0; i < everyone.length; i += concurrency) {
      await Promise.all(everyone.slice(i, i + concurrency).map((c) => this.#retire(c)));
    }
    await Promise.all(this.pending);
  }

  get outstanding() {
    let n = 0;
    for (const c of this.live) n += c.outstanding;
    return n;
  }

  #startOne() {
    const { opts, stats } = this.world;
    const chatter = new Chatter(this.world, this.nextN++, { deflate: Math.random() < opts.deflate });
    this.live.add(chatter);
    stats.started++;
    chatter.start().catch((err) => {
      stats.startFailures++;
      stats.count('start failures', err.message);
      chatter.terminate();
      this.live.delete(chatter);
    });
  }

  #retireOne() {
    const candidates = [...this.live].filter((c) => c.ready && !c.busy && !c.closed);
    if (!candidates.length) return;
    const chatter = candidates[Math.floor(Math.random() * candidates.length)];
    this.live.delete(chatter);
    const done = this.#retire(chatter).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  async #retire(chatter) {
    const { stats } = this.world;
    try {
      if (await chatter.retire()) stats.retired++;
    } catch (err) {
      stats.count('retire failures', err.message);
      chatter.terminate();
    }
  }
}
