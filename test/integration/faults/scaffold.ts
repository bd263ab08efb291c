import { readFile } from 'node:fs/promises';
import { connect } from '../../../src/postgres/client.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { SupervisorHandle } from '../../../src/daemon/types.js';
import type { FollowerState, Snapshot } from '../../../src/monitor/snapshot.js';
import { cloneFollower, createLeader, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { startTcpProxy, type TcpProxy } from '../../helpers/faults/tcp-proxy.js';
import { supervisorContext } from '../daemon/context.js';

/**
 * Per-test bound for fault tests: they run real clusters and many CLI processes, and the suite
 * must still finish on a loaded 2-core machine (each `node` start costs seconds there).
 */
export const faultTestTimeoutMs = 300_000;

/** Tick interval of the supervisors in fault tests: "within 2 intervals" is 2 x this. */
export const intervalMs = 500;

/**
 * Timeouts short enough that a fault is noticed within a test's budget (defaults are 60 s), and
 * synchronous_commit back on: the test clusters turn it off for speed, and with it off an
 * acknowledged commit may be lost by a crash by design (PostgreSQL's "asynchronous commit").
 */
export const leaderFaultSettings = {
  wal_sender_timeout: '3s',
  wal_keep_size: '256MB',
  synchronous_commit: 'on',
};
export const followerFaultSettings = {
  wal_receiver_timeout: '3s',
  wal_retrieve_retry_interval: '500ms',
  wal_receiver_status_interval: '1s',
};

export function conninfoVia(port: number, extra = ''): string {
  return `host=127.0.0.1 port=${port} user=postgres dbname=postgres connect_timeout=2 ${extra}`.trim();
}

/** A leader and a follower whose WAL receiver reaches the leader through a fault proxy. */
export async function proxiedPair(): Promise<{
  leader: TestCluster;
  follower: TestCluster;
  proxy: TcpProxy;
}> {
  const leader = await createLeader({ settings: leaderFaultSettings });
  const proxy = await startTcpProxy({ port: leader.port });
  const follower = await cloneFollower(leader, { settings: followerFaultSettings });
  await pointFollowerAt(follower, conninfoVia(proxy.port, 'application_name=replica_a'));
  await waitForReceiver(follower, 'streaming');
  return { leader, follower, proxy };
}

/** Sets primary_conninfo (ALTER SYSTEM wins over what pg_basebackup -R wrote) and reloads. */
async function pointFollowerAt(follower: TestCluster, conninfo: string): Promise<void> {
  await follower.query(`alter system set primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
  await follower.query('select pg_reload_conf()');
}

export async function receiverStatus(follower: TestCluster): Promise<string | null> {
  const rows = await follower.query<{ status: string }>('select status from pg_stat_wal_receiver');
  return rows[0]?.status ?? null;
}

export async function waitForReceiver(
  follower: TestCluster,
  status: string,
  timeoutMs = 30_000,
): Promise<number> {
  try {
    await waitFor(`WAL receiver ${status}`, async () => (await receiverStatus(follower)) === status, {
      timeoutMs,
      intervalMs: 50,
    });
  } catch (error) {
    const log = await readFile(follower.logFile, 'utf8').catch(() => '(no log)');
    throw new Error(`${(error as Error).message}\nfollower log:\n${log.split('\n').slice(-15).join('\n')}`, {
      cause: error,
    });
  }
  return Date.now();
}

/** Waits until the follower replayed everything the leader had written when this was called. */
export async function waitCaughtUp(
  leader: TestCluster,
  follower: TestCluster,
  timeoutMs = 60_000,
): Promise<void> {
  const [target] = await leader.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  await waitFor(
    `follower replay past ${target?.lsn}`,
    async () => {
      const [row] = await follower.query<{ ok: boolean }>(
        'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
        [target?.lsn],
      );
      return row?.ok === true;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** An in-process supervisor (what `pgfollower run` starts) whose leader connection may be proxied. */
export async function faultSupervisor(
  leader: TestCluster,
  follower: TestCluster,
  options: { leaderConninfo?: string; maxBackoffMs?: number; extra?: Record<string, unknown> } = {},
): Promise<SupervisorHandle> {
  const viewOfLeader = { ...leader, conninfo: options.leaderConninfo ?? leader.conninfo };
  const ctx = await supervisorContext(viewOfLeader, follower, { intervalMs, extra: options.extra });
  // The default backoff (as `pgfollower run` has it), unless a test says otherwise.
  return startSupervisor(ctx, {
    http: false,
    ...(options.maxBackoffMs ? { maxBackoffMs: options.maxBackoffMs } : {}),
  });
}

/**
 * Resolves with the time the supervisor first reports `state` at or after now. Rejects after
 * `timeoutMs` naming the last state seen.
 */
export function waitForReported(
  s: SupervisorHandle,
  accept: (state: FollowerState, snapshot: Snapshot) => boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const latest = s.latest();
  if (latest && accept(latest.state, latest)) return Promise.resolve(Date.now());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.events.off('snapshot', onSnapshot);
      const last = s.latest();
      reject(
        new Error(
          `supervisor did not report ${what} within ${timeoutMs} ms; last: ${last?.state} (${last?.reason})`,
        ),
      );
    }, timeoutMs);
    const onSnapshot = (snapshot: Snapshot): void => {
      if (!accept(snapshot.state, snapshot)) return;
      clearTimeout(timer);
      s.events.off('snapshot', onSnapshot);
      resolve(Date.now());
    };
    s.events.on('snapshot', onSnapshot);
  });
}

/** The same cluster reached over its Unix socket (a server in another network namespace). */
export function overSocket(cluster: TestCluster): TestCluster {
  const conninfo = `host=${cluster.socketDirectory} port=${cluster.port} user=postgres dbname=postgres`;
  return {
    ...cluster,
    conninfo,
    async query(sql, params) {
      const client = await connect(conninfo, { connectTimeoutMs: 10_000 });
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    client: () => connect(conninfo, { connectTimeoutMs: 10_000 }),
  };
}
