/**
 * Per-key sliding windows with fail2ban's findtime/maxretry semantics and the ruler's range rule:
 * at time t the count is over (t - findtime, t] (Loki: the lower bound is not inclusive). A key is "in
 * an episode" while that count stays at maxretry or more, which is exactly while the ruler's alert for
 * the series would be firing; the episode starts at the timestamp of the maxretry-th line.
 *
 * Memory is bounded twice: a key keeps only its newest `maxretry` timestamps (enough to decide both
 * the crossing and the episode's end), and at most `maxTracked` keys are held, the least recently
 * seen being evicted beyond that.
 */
export interface WindowRule {
  findtimeMs: number;
  maxretry: number;
}

export interface EpisodeEnd<T> {
  key: string;
  meta: T;
  startsAt: number;
  /** When the count fell below maxretry: the maxretry-th newest line left the window. */
  endsAt: number;
}

export interface AddResult<T> {
  /** Set when this line made the key cross maxretry: the episode starts at `startsAt` (this line's time). */
  crossing?: { startsAt: number; count: number };
  /** An earlier episode of this key that had ended before this line. */
  ended?: EpisodeEnd<T>;
}

interface Tracked<T> {
  key: string;
  /** Ascending, at most rule.maxretry long. */
  times: number[];
  rule: WindowRule;
  episodeStart: number | null;
  meta: T;
  // Recency list, least recently seen first. A Map's own order would do, but V8 skips the deleted
  // slots at its front on every eviction: a flood of new addresses made that quadratic.
  older: Tracked<T> | undefined;
  newer: Tracked<T> | undefined;
}

function endOf(state: Tracked<unknown>): number {
  const { times, rule } = state;
  return times[times.length - rule.maxretry]! + rule.findtimeMs;
}

export class SlidingWindows<T> {
  private readonly keys = new Map<string, Tracked<T>>();
  private readonly inEpisode = new Set<string>();
  private oldest: Tracked<T> | undefined;
  private newest: Tracked<T> | undefined;
  private evictedCount = 0;

  constructor(private readonly maxTracked: number) {}

  get size(): number {
    return this.keys.size;
  }

  /** Keys dropped to stay under maxTracked since the start. */
  get evictions(): number {
    return this.evictedCount;
  }

  add(key: string, time: number, rule: WindowRule, meta: T): AddResult<T> {
    let state = this.keys.get(key);
    if (state) {
      this.unlink(state);
    } else {
      state = { key, times: [], rule, episodeStart: null, meta, older: undefined, newer: undefined };
      this.keys.set(key, state);
    }
    this.append(state);
    state.rule = rule;
    state.meta = meta;
    const result: AddResult<T> = {};
    if (state.episodeStart !== null && state.times.length >= rule.maxretry && time >= endOf(state)) {
      result.ended = { key, meta, startsAt: state.episodeStart, endsAt: endOf(state) };
      state.episodeStart = null;
      this.inEpisode.delete(key);
    }
    insertSorted(state.times, time);
    while (state.times.length > rule.maxretry) state.times.shift();
    const { times } = state;
    if (
      state.episodeStart === null &&
      times.length >= rule.maxretry &&
      times[times.length - 1]! - times[times.length - rule.maxretry]! < rule.findtimeMs
    ) {
      state.episodeStart = times[times.length - 1]!;
      this.inEpisode.add(key);
      result.crossing = { startsAt: state.episodeStart, count: times.length };
    }
    while (this.keys.size > this.maxTracked && this.oldest) {
      const evicted = this.oldest;
      this.unlink(evicted);
      this.keys.delete(evicted.key);
      this.inEpisode.delete(evicted.key);
      this.evictedCount++;
    }
    return result;
  }

  private unlink(state: Tracked<T>): void {
    if (state.older) state.older.newer = state.newer;
    else this.oldest = state.newer;
    if (state.newer) state.newer.older = state.older;
    else this.newest = state.older;
    state.older = undefined;
    state.newer = undefined;
  }

  private append(state: Tracked<T>): void {
    state.older = this.newest;
    if (this.newest) this.newest.newer = state;
    else this.oldest = state;
    this.newest = state;
  }

  /** Episodes whose end is at or before `now`; they are closed. */
  sweep(now: number): EpisodeEnd<T>[] {
    const ended: EpisodeEnd<T>[] = [];
    for (const key of this.inEpisode) {
      const state = this.keys.get(key)!;
      const endsAt = endOf(state);
      if (endsAt > now) continue;
      ended.push({ key, meta: state.meta, startsAt: state.episodeStart!, endsAt });
      state.episodeStart = null;
      this.inEpisode.delete(key);
    }
    return ended;
  }
}

function insertSorted(times: number[], time: number): void {
  let i = times.length;
  while (i > 0 && times[i - 1]! > time) i--;
  times.splice(i, 0, time);
}
