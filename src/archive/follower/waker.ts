import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The prefetcher's pause between looks at the spool, which a finished fetch ends early so the next
 * fetch starts at once instead of up to a poll interval later. A wake while no pause runs ends the
 * next pause at once.
 */
interface Waker {
  wake(): void;
  /** Resolves after `ms`, at a wake, or when `signal` aborts; never rejects. */
  pause(ms: number): Promise<void>;
}

export function createWaker(signal: AbortSignal): Waker {
  let woken = false;
  let current: AbortController | undefined;
  return {
    wake() {
      woken = true;
      current?.abort();
    },
    async pause(ms) {
      if (woken || signal.aborted) {
        woken = false;
        return;
      }
      const early = new AbortController();
      current = early;
      const onStop = (): void => early.abort();
      signal.addEventListener('abort', onStop, { once: true });
      try {
        await sleep(ms, undefined, { signal: early.signal }).catch(() => undefined);
      } finally {
        signal.removeEventListener('abort', onStop);
        current = undefined;
        woken = false;
      }
    },
  };
}
