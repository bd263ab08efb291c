/**
 * How far ahead of replay the prefetcher works, sized from what it measures instead of a fixed
 * count: the replay rate (segments taken from the spool per second) and the fetch latency (request
 * to file in the spool). By Little's law, keeping replay fed at `rate` with fetches that take
 * `latency` needs `rate x latency` fetches running at once; the window holds that many in flight,
 * the same again as headroom (bursts, a slower fetch), and a second of replay ready (at least 2).
 *
 * The headroom also makes the window grow when it is too small: while replay waits for the
 * prefetcher, the rate it shows is the prefetcher's own throughput (concurrency / latency), so
 * `rate x latency` equals the current concurrency and the headroom asks for twice that, up to the
 * ceilings (archive.prefetch, archive.prefetchConcurrency). Until both are measured, and after
 * replay paused for longer than the measuring horizon, the window is the ceiling.
 */

/** Fetches kept in flight per fetch Little's law asks for. */
const WINDOW_HEADROOM = 2;
/**
 * Ready segments beyond the ones in flight: what replay consumes in this long (a pause of the
 * prefetcher, a slow fetch, a busy CPU), and never fewer than WINDOW_MARGIN.
 */
const WINDOW_MARGIN_MS = 1000;
export const WINDOW_MARGIN = 2;
/** Consumptions older than this no longer count towards the rate. */
export const RATE_HORIZON_MS = 30_000;
/** Consumptions the rate is computed over (the most recent ones). */
const RATE_EVENTS = 32;
/** Fewer consumptions, or a shorter span, leave the rate unknown. */
const RATE_MIN_EVENTS = 4;
const RATE_MIN_SPAN_MS = 250;
/** Fetch latencies kept; the window uses their 90th percentile (a slow fetch is what makes replay wait). */
const LATENCY_SAMPLES = 16;

interface WindowLimits {
  /** The most segments ahead of replay (archive.prefetch). */
  maxDepth: number;
  /** The most fetches at once (archive.prefetchConcurrency). */
  maxConcurrency: number;
}

interface WindowSize {
  /** Segments after replay's position kept ready or being fetched. */
  depth: number;
  /** Fetches at once. */
  concurrency: number;
  /** Segments replay took from the spool per second, null while unknown. */
  replayRate: number | null;
  /** 90th percentile of recent fetch latencies, null before the first fetch. */
  fetchLatencyMs: number | null;
}

/** The window for a measured rate and latency (either null: the ceilings). Pure. */
export function sizeWindow(
  replayRate: number | null,
  fetchLatencyMs: number | null,
  limits: WindowLimits,
): { depth: number; concurrency: number } {
  const maxDepth = Math.max(0, limits.maxDepth);
  const maxConcurrency = Math.max(1, limits.maxConcurrency);
  if (replayRate === null || fetchLatencyMs === null) return { depth: maxDepth, concurrency: maxConcurrency };
  const inFlight = Math.ceil(((replayRate * fetchLatencyMs) / 1000) * WINDOW_HEADROOM);
  const concurrency = clamp(inFlight, 1, maxConcurrency);
  const margin = Math.max(WINDOW_MARGIN, Math.ceil((replayRate * WINDOW_MARGIN_MS) / 1000));
  const depth = clamp(inFlight + margin, Math.min(1 + WINDOW_MARGIN, maxDepth), maxDepth);
  return { depth, concurrency };
}

interface WindowSizer {
  /** `count` segments were seen leaving the spool (taken by restore_command) at `now`. */
  consumed(now: number, count?: number): void;
  /** One fetch took `ms` from request to file in the spool. */
  fetched(ms: number): void;
  size(now: number): WindowSize;
}

export function createWindowSizer(limits: () => WindowLimits): WindowSizer {
  const events: number[] = [];
  const latencies: number[] = [];
  const replayRate = (now: number): number | null => {
    while (events.length > 0 && now - (events[0] as number) > RATE_HORIZON_MS) events.shift();
    if (events.length < RATE_MIN_EVENTS) return null;
    // The rate while replay reads from the archive: a pause does not shrink the window (replay
    // resumes at full speed); a pause longer than the horizon forgets it (the ceilings again).
    const span = (events[events.length - 1] as number) - (events[0] as number);
    if (span < RATE_MIN_SPAN_MS) return null;
    return ((events.length - 1) * 1000) / span;
  };
  const latency = (): number | null => {
    if (latencies.length === 0) return null;
    const sorted = [...latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] as number;
  };
  return {
    consumed(now, count = 1) {
      for (let i = 0; i < count; i++) events.push(now);
      while (events.length > RATE_EVENTS) events.shift();
    },
    fetched(ms) {
      latencies.push(Math.max(0, ms));
      while (latencies.length > LATENCY_SAMPLES) latencies.shift();
    },
    size(now) {
      const rate = replayRate(now);
      const ms = latency();
      return { ...sizeWindow(rate, ms, limits()), replayRate: rate, fetchLatencyMs: ms };
    },
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}

/** The window as the prefetcher's stats show it (rounded). */
export function describeWindow(window: WindowSize): {
  window: number;
  concurrency: number;
  replayRate: number | null;
  fetchLatencyMs: number | null;
} {
  return {
    window: window.depth,
    concurrency: window.concurrency,
    replayRate: window.replayRate === null ? null : Math.round(window.replayRate * 100) / 100,
    fetchLatencyMs: window.fetchLatencyMs === null ? null : Math.round(window.fetchLatencyMs),
  };
}
