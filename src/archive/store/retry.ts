import { setTimeout as sleep } from 'node:timers/promises';
import { computeBackoffMs } from '../../util/backoff.js';
import { ArchiveError } from '../../errors.js';
import type { Clock } from '../../context.js';
import type { Logger } from '../../logging/logger.js';

/**
 * Retries a whole archive operation on transient errors (network resets mid-body, 5xx, throttling)
 * with the daemon's jittered backoff. The S3 SDK already retries single requests; this covers what
 * it cannot see, e.g. a body stream reset after the response headers arrived. Non-transient errors
 * (conflict, corruption, access denied) are thrown at once.
 */
export async function withArchiveRetries<T>(
  what: string,
  fn: () => Promise<T>,
  options: { attempts: number; signal: AbortSignal; logger: Logger; clock: Clock; deadlineMs?: number },
): Promise<T> {
  const deadline = options.clock.now() + (options.deadlineMs ?? Number.POSITIVE_INFINITY);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const transient = error instanceof ArchiveError && error.transient;
      const delay = computeBackoffMs(attempt - 1, { baseMs: 200, maxMs: 5000 });
      if (
        !transient ||
        attempt >= options.attempts ||
        options.signal.aborted ||
        options.clock.now() + delay > deadline
      )
        throw error;
      options.logger.warn(
        { err: (error as Error).message, attempt, of: options.attempts },
        `${what} failed (transient); retrying in ${(delay / 1000).toFixed(1)}s`,
      );
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}
