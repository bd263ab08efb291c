import { DatabaseUnavailableError } from '../errors.js';
import { sqlState } from '../postgres/client.js';

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

export type RetryClass = 'transient' | 'needs-operator';

/**
 * What is worth retrying quickly. Everything is retried (a daemon must outlive a broken leader),
 * but errors only an operator can fix (bad password, missing database, permissions) are logged
 * as errors with a hint and retried at the longest delay.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export function classifyRetry(error: unknown): RetryClass {
  const state = sqlState(error) ?? sqlState((error as { cause?: unknown } | null)?.cause);
  if (state !== undefined) {
    // 28: invalid authorization; 3D000: no such database; 42501: insufficient privilege.
    if (state.startsWith('28') || state === '3D000' || state === '42501') return 'needs-operator';
    return 'transient';
  }
  if (error instanceof DatabaseUnavailableError) return 'transient';
  return 'transient';
}
