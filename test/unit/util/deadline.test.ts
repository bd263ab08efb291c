import { describe, expect, it } from 'vitest';
import { withDeadline } from '../../../src/util/deadline.js';

/** Work that ends only when its signal aborts, with the signal's reason. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));

describe('withDeadline', () => {
  it('aborts the work at the deadline with a TimeoutError', async () => {
    const started = performance.now();
    const error = await withDeadline(undefined, 50, untilAborted).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('aborts the work when the parent aborts, with the parent reason', async () => {
    const parent = new AbortController();
    const pending = withDeadline(parent.signal, 60_000, untilAborted).catch((e: unknown) => e);
    parent.abort(new Error('stopped by SIGTERM'));
    expect(((await pending) as Error).message).toBe('stopped by SIGTERM');
  });

  it('starts aborted when the parent already is', async () => {
    const parent = new AbortController();
    parent.abort(new Error('already'));
    const seen = await withDeadline(parent.signal, 60_000, (signal) => Promise.resolve(signal.aborted));
    expect(seen).toBe(true);
  });

  it('returns what the work returns and leaves no listener or timer behind', async () => {
    const parent = new AbortController();
    let inner: AbortSignal | undefined;
    const value = await withDeadline(parent.signal, 20, (signal) => {
      inner = signal;
      return Promise.resolve(42);
    });
    expect(value).toBe(42);
    // After the work settled, neither the deadline nor the parent reaches the inner signal.
    parent.abort(new Error('late'));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(inner?.aborted).toBe(false);
  });

  it('fires even when garbage collection runs while the work waits', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const pending = withDeadline(undefined, 100, untilAborted).catch((e: unknown) => e);
    // Only with --expose-gc; without it the test still checks the deadline fires.
    gc?.();
    expect(((await pending) as Error).name).toBe('TimeoutError');
  });
});
