import { z } from 'zod';
import { boundedDuration, boundedSize } from '../units.js';

/** `cluster:` section: the other nodes, used by promote/follow/rebuild (src/failover/). */
export const clusterSection = z.strictObject({
  /** Other followers: libpq conninfo strings or pgfollower HTTP base URLs. */
  peers: z.array(z.string().min(1)).default([]),
  /**
   * The cluster's primary (libpq conninfo) when leader.conninfo names another standby (cascading):
   * lag is then shown both to the upstream and to the primary, and promote asks it too.
   */
  primary: z.string().min(1).optional(),
  /**
   * promote refuses (unless --force) when this node lacks more than this much WAL versus the last
   * leader position known. 0: any known loss refuses; nothing may lose data silently.
   */
  maxDataLossBytes: boundedSize(0, 1024 ** 4).default(0),
  /** How long promote waits for received (and archived) WAL to be replayed before judging. */
  replayTimeoutMs: boundedDuration(1000, 24 * 3_600_000).default(60_000),
});
