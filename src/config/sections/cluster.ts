import { z } from 'zod';
import { durationMs, sizeBytes } from '../units.js';

/** `cluster:` section: the other nodes, used by promote/follow/rebuild (src/failover/). */
export const clusterSection = z.strictObject({
  /** Other followers: libpq conninfo strings or pgfollower HTTP base URLs. */
  peers: z.array(z.string().min(1)).default([]),
  /**
   * promote refuses (unless --force) when this node lacks more than this much WAL versus the last
   * leader position known. 0: any known loss refuses; nothing may lose data silently.
   */
  maxDataLossBytes: sizeBytes.default(0),
  /** How long promote waits for received (and archived) WAL to be replayed before judging. */
  replayTimeoutMs: durationMs.default(60_000),
});
