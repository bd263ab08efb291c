import { z } from 'zod';

/** `cluster:` section: the other nodes, used by promote/follow/rebuild (src/failover/). */
export const clusterSection = z.strictObject({
  /** Other followers: libpq conninfo strings or pgfollower HTTP base URLs. */
  peers: z.array(z.string().min(1)).default([]),
});
