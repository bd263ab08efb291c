/**
 * The one backoff of the daemon: exponential from `baseMs`, capped at `maxMs`, with "equal jitter"
 * (half fixed, half random) so many followers of one leader do not reconnect in step after it
 * comes back, while a retry is never sooner than half the nominal delay.
 */
export function computeBackoffMs(
  attempt: number,
  options: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const nominal = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
