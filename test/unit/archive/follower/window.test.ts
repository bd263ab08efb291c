import { describe, expect, it } from 'vitest';
import {
  createWindowSizer,
  describeWindow,
  RATE_HORIZON_MS,
  sizeWindow,
  WINDOW_MARGIN,
} from '../../../../src/archive/follower/window.js';

const limits = { maxDepth: 16, maxConcurrency: 4 };

describe('sizeWindow', () => {
  it('uses the ceilings while the rate or the latency is unknown', () => {
    expect(sizeWindow(null, null, limits)).toEqual({ depth: 16, concurrency: 4 });
    expect(sizeWindow(10, null, limits)).toEqual({ depth: 16, concurrency: 4 });
    expect(sizeWindow(null, 50, limits)).toEqual({ depth: 16, concurrency: 4 });
  });

  it('covers rate x latency twice over, plus a second of replay ready', () => {
    // 5 segments/s, 150 ms per fetch: 0.75 in flight by Little's law, 2 with headroom, 5 ready.
    expect(sizeWindow(5, 150, limits)).toEqual({ depth: 2 + 5, concurrency: 2 });
    // A slow replay (1 segment/s) with a fast archive: one fetch at a time, a few segments ahead.
    expect(sizeWindow(1, 20, limits)).toEqual({ depth: 1 + WINDOW_MARGIN, concurrency: 1 });
    expect(sizeWindow(10, 150, { maxDepth: 64, maxConcurrency: 8 })).toEqual({
      depth: 3 + 10,
      concurrency: 3,
    });
  });

  it('never exceeds archive.prefetch and archive.prefetchConcurrency', () => {
    // 20 segments/s from a store answering in 400 ms would want 16 fetches at once.
    expect(sizeWindow(20, 400, limits)).toEqual({ depth: 16, concurrency: 4 });
    expect(sizeWindow(20, 400, { maxDepth: 2, maxConcurrency: 1 })).toEqual({ depth: 2, concurrency: 1 });
  });

  it('grows when replay waits: the measured rate is then the prefetcher throughput', () => {
    // Two fetches of 200 ms at once deliver 10 segments/s; replay waiting shows exactly that rate.
    let concurrency = 2;
    const steps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const throughput = concurrency / 0.2;
      concurrency = sizeWindow(throughput, 200, { maxDepth: 64, maxConcurrency: 16 }).concurrency;
      steps.push(concurrency);
    }
    expect(steps).toEqual([4, 8, 16, 16]);
  });
});

describe('createWindowSizer', () => {
  it('measures the replay rate from consumptions and the p90 fetch latency', () => {
    const sizer = createWindowSizer(() => limits);
    expect(sizer.size(0)).toMatchObject({
      depth: 16,
      concurrency: 4,
      replayRate: null,
      fetchLatencyMs: null,
    });
    for (let i = 0; i < 10; i++) sizer.fetched(i === 9 ? 500 : 40);
    // 4 segments/s for 2 s; one slow fetch in ten sets the p90 at 500 ms.
    for (let t = 0; t <= 2000; t += 250) sizer.consumed(t);
    const size = sizer.size(2000);
    expect(size.replayRate).toBe(4);
    expect(size.fetchLatencyMs).toBe(500);
    expect(size.concurrency).toBe(4);
    expect(size.depth).toBe(4 * 0.5 * 2 + 4);
    expect(describeWindow(size)).toEqual({ window: 8, concurrency: 4, replayRate: 4, fetchLatencyMs: 500 });
  });

  it('needs a few consumptions over a quarter second before trusting a rate, and forgets old ones', () => {
    const sizer = createWindowSizer(() => limits);
    sizer.fetched(30);
    // Three taken in one look at the spool: no rate yet.
    sizer.consumed(1000, 3);
    expect(sizer.size(1000).replayRate).toBeNull();
    sizer.consumed(2500, 2);
    expect(sizer.size(2500).replayRate).toBeCloseTo(2.67, 2);
    expect(sizer.size(2500).depth).toBe(1 + 3);
    // A pause keeps the window of the last rate; past the horizon the rate is unknown again.
    expect(sizer.size(2500 + RATE_HORIZON_MS / 2).depth).toBe(1 + 3);
    expect(sizer.size(1000 + RATE_HORIZON_MS + 1)).toMatchObject({ replayRate: null, depth: 16 });
  });
});
