import { setTimeout as sleep } from 'node:timers/promises';
import { formatBytes } from '../config/units.js';
import { connect, type PgClient } from '../postgres/client.js';
import type { DemoOutput as Output } from './run-demo.js';
import { systemClock, type Clock } from '../util/time.js';

/** The failover demo's load (the application), its live view and its waits. */
export interface DemoNode {
  name: string;
  directory: string;
  port: number;
  configFile: string;
  conninfo: string;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function replayPosition(conninfo: string, signal: AbortSignal): Promise<bigint> {
  const client = await connect(conninfo, { connectTimeoutMs: 5000, signal });
  try {
    const { rows } = await client.query<{ lsn: string }>(
      "SELECT pg_wal_lsn_diff(greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0')::text AS lsn",
    );
    return BigInt(rows[0]?.lsn ?? '0');
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function waitUntil(
  signal: AbortSignal,
  timeoutMs: number,
  what: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${seconds(timeoutMs)} waiting until ${what}`);
    await sleep(250, undefined, { signal });
  }
}

interface NodeView {
  name: string;
  state: string;
  lagBytes: number | null;
}

/** The live view: one line per second with each follower's state and lag, until `done`. */
export async function watch(
  output: Output,
  signal: AbortSignal,
  leader: PgClient,
  nodes: DemoNode[],
  timeoutMs: number,
  done: (views: NodeView[]) => Promise<boolean>,
  clock: Clock = systemClock,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const leaderLsn = BigInt(
      (
        await leader.query<{ lsn: string }>(
          "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn",
        )
      ).rows[0]?.lsn ?? '0',
    );
    const views = await Promise.all(nodes.map((node) => viewOf(node, leaderLsn, signal)));
    output.print(
      `  [${new Date(clock.now()).toISOString().slice(11, 19)}] ${views
        .map((v) => `${v.name} ${v.state}${v.lagBytes === null ? '' : `, ${formatBytes(v.lagBytes)} behind`}`)
        .join(' | ')}`,
    );
    if (await done(views)) return;
    if (performance.now() > deadline)
      throw new Error(`the followers did not catch up within ${seconds(timeoutMs)}`);
    await sleep(1000, undefined, { signal });
  }
}

async function viewOf(node: DemoNode, leaderLsn: bigint, signal: AbortSignal): Promise<NodeView> {
  let client: PgClient | undefined;
  try {
    client = await connect(node.conninfo, { connectTimeoutMs: 2000, queryTimeoutMs: 2000, signal });
    const { rows } = await client.query<{ replay: string | null; receiver: string | null }>(
      `SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::text AS replay,
              (SELECT status FROM pg_stat_wal_receiver) AS receiver`,
    );
    const row = rows[0];
    const lag = row?.replay ? Number(leaderLsn - BigInt(row.replay)) : null;
    const state = row?.receiver === 'streaming' ? 'streaming' : 'replaying from the archive';
    return { name: node.name, state, lagBytes: lag === null ? null : Math.max(0, lag) };
  } catch {
    return { name: node.name, state: 'starting', lagBytes: null };
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export interface Writer {
  /** Ids whose INSERT the original leader acknowledged. */
  acknowledgedByLeader(): string[];
  /** When a follower first accepted a write (the promoted one), at or after `since`. */
  firstWriteAfter(since: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The application: inserts orders on the leader; when the leader is gone, tries every follower
 * until one accepts writes (the promoted one), as a client behind a router would.
 */
export function startWriter(leaderConninfo: string, followers: DemoNode[], signal: AbortSignal): Writer {
  const acknowledged: string[] = [];
  let stopped = false;
  let firstWriteAt: number | undefined;
  const targets = [leaderConninfo, ...followers.map((f) => f.conninfo)];
  let client: PgClient | undefined;
  let target = 0;
  const loop = (async () => {
    while (!stopped && !signal.aborted) {
      try {
        client ??= await connect(targets[target] as string, {
          connectTimeoutMs: 1000,
          queryTimeoutMs: 5000,
          signal,
        });
        const { rows } = await client.query<{ id: string }>(
          "INSERT INTO demo_orders (note) VALUES ('order') RETURNING id::text AS id",
        );
        const id = rows[0]?.id;
        if (target === 0) {
          if (id !== undefined) acknowledged.push(id);
        } else firstWriteAt ??= performance.now();
        await sleep(20);
      } catch {
        // Leader gone or a standby (read-only): try the next node.
        await client?.end().catch(() => undefined);
        client = undefined;
        target = (target + 1) % targets.length;
        await sleep(50);
      }
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    acknowledgedByLeader() {
      return [...acknowledged];
    },
    async firstWriteAfter(since, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (firstWriteAt === undefined) {
        if (performance.now() > deadline || signal.aborted)
          throw new Error('no node accepted a write after the leader died');
        await sleep(50);
      }
      return Math.max(firstWriteAt, since);
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
