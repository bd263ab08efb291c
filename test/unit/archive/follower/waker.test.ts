import { describe, expect, it } from 'vitest';
import { createWaker } from '../../../../src/archive/follower/waker.js';

describe('waker', () => {
  it('ends a pause at a wake, at once after an earlier wake, and when stopped', async () => {
    const stop = new AbortController();
    const waker = createWaker(stop.signal);
    const minute = 60_000;
    // A wake while nothing pauses: the next pause returns at once, the one after waits again.
    waker.wake();
    await waker.pause(minute);
    let ended = false;
    const pausing = waker.pause(minute).then(() => (ended = true));
    await Promise.resolve();
    expect(ended).toBe(false);
    waker.wake();
    await pausing;
    expect(ended).toBe(true);
    const stopped = waker.pause(minute);
    stop.abort();
    await expect(stopped).resolves.toBeUndefined();
    await expect(waker.pause(minute)).resolves.toBeUndefined();
  }, 10_000);
});
