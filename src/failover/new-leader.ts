import type { Context } from '../context.js';
import { connect, withClient } from '../postgres/client.js';
import { createPhysicalSlot, readSlot } from '../postgres/slots.js';
import { identifySystem, readTimelineHistory, type SystemIdentity } from '../postgres/timeline.js';

/** What follow and rebuild ask of the leader they are pointed at. */

export type LeaderIdentity = SystemIdentity & { inRecovery: boolean };

/** Asks the new leader who it is and what its history is. */
export async function readLeaderHistory(
  ctx: Context,
  conninfo: string,
): Promise<{
  identity: LeaderIdentity;
  history: Awaited<ReturnType<typeof readTimelineHistory>>;
}> {
  const options = { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, queryTimeoutMs: 15_000 };
  const replication = await connect(conninfo, { signal: ctx.signal, ...options, replication: 'database' });
  try {
    const identity = await identifySystem(replication);
    const history = await readTimelineHistory(replication, identity.timeline);
    const inRecovery =
      (await replication.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r ?? false;
    return { identity: { ...identity, inRecovery }, history };
  } finally {
    await replication.end().catch(() => undefined);
  }
}

/** Who a server is (IDENTIFY_SYSTEM) and whether it is a standby, without its history. */
export async function readIdentity(ctx: Context, conninfo: string): Promise<LeaderIdentity> {
  const options = { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, queryTimeoutMs: 15_000 };
  const replication = await connect(conninfo, { signal: ctx.signal, ...options, replication: 'database' });
  try {
    const identity = await identifySystem(replication);
    const inRecovery =
      (await replication.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r ?? false;
    return { ...identity, inRecovery };
  } finally {
    await replication.end().catch(() => undefined);
  }
}

/** Creates this node's physical slot on the new leader unless it exists; true when created. */
export async function ensureSlot(ctx: Context, leaderConninfo: string, slotName: string): Promise<boolean> {
  return withClient(
    leaderConninfo,
    { signal: ctx.signal, connectTimeoutMs: ctx.config.leader.connectTimeoutMs },
    async (c) => {
      if (await readSlot(c, slotName)) return false;
      ctx.reporter.step(`creating replication slot ${slotName} on the new leader`);
      await createPhysicalSlot(c, slotName);
      return true;
    },
  );
}

/** Hint when a node re-pointed (follow) or rewound (rebuild) at a new leader does not stream. */
export const REPOINTED_NOT_STREAMING_HINT =
  'read the server log: "not a child of this server\'s history" means it diverged (run pgfollower rebuild); otherwise check pg_hba.conf on the new leader';
