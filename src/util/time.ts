/**
 * Where pgfollower reads the time: `Context.clock` in domain code, a `Clock` parameter below the
 * context layer (postgres/). Tests pass a fake. Durations measured for metrics use
 * `performance.now()` (monotonic) instead: a wall clock that steps would corrupt them.
 */
export interface Clock {
  /** ms since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A compact UTC timestamp for names on disk (`20261202T004812Z`): sorts as text, has no `:` (which
 * some tools treat as a separator), and says its zone. Takes the time from the caller, which reads
 * it from `ctx.clock` where it has one.
 */
export function compactTimestamp(at: number | Date): string {
  return new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}
