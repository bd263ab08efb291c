import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../context.js';
import { ExitCode, PgFollowerError, RefusedError, type CheckResult } from '../errors.js';
import { connect, localConninfo, withClient, type PgClient } from '../postgres/client.js';
import { describeConninfo, formatConninfo, maskConninfo, parseConninfo } from '../postgres/conninfo.js';
import { readControlData, serverStatus, startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { formatLsn, parseLsn, type Lsn } from '../postgres/lsn.js';
import { furthestLsn, readNodePosition } from '../postgres/replica-state.js';
import { createPhysicalSlot, readSlot } from '../postgres/slots.js';
import { alterSystem, editAutoConf } from '../postgres/standby-config.js';
import {
  compareTimelines,
  describeVerdict,
  identifySystem,
  readTimelineHistory,
  type ForkVerdict,
  type SystemIdentity,
} from '../postgres/timeline.js';

/**
 * `follow`: re-point a follower at a new leader after a failover. Safe only when this node's WAL
 * is a prefix of the new leader's history: compare the leader's timeline history with how far this
 * node got; if it went past the fork point it has diverged and must be rebuilt instead.
 * https://www.postgresql.org/docs/current/warm-standby.html#STANDBY-SERVER-OPERATION
 */

export interface LocalFacts {
  running: boolean;
  systemId: string;
  inRecovery: boolean;
  timeline: number;
  /** Furthest position replayed or received (running) / recorded in pg_control (stopped). */
  lsn: Lsn;
  /** Where the numbers came from, for the operator. */
  source: string;
}

export interface FollowPlan {
  leaderConninfo: string;
  leader: SystemIdentity & { inRecovery: boolean };
  local: LocalFacts;
  verdict: ForkVerdict;
  checks: CheckResult[];
  ok: boolean;
  slotName: string | undefined;
}

/** Reads where this node stands, from the running server or, when stopped, from pg_controldata. */
export async function readLocalFacts(
  ctx: Context,
  tools: PgTools,
  dataDirectory: string,
): Promise<LocalFacts> {
  const status = await serverStatus(tools, dataDirectory);
  if (status === 'no-data-directory') {
    throw new PgFollowerError(
      'NO_DATA_DIRECTORY',
      `${dataDirectory} is not a PostgreSQL data directory`,
      ExitCode.FAILED,
      {
        hint: 'run pgfollower bootstrap (or rebuild --clone) to create this follower',
      },
    );
  }
  if (status === 'running') {
    const position = await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 10_000, queryTimeoutMs: 10_000 },
      readNodePosition,
    );
    return {
      running: true,
      systemId: position.systemId,
      inRecovery: position.inRecovery,
      timeline: position.timeline,
      lsn: furthestLsn(position),
      source: position.inRecovery ? 'received/replayed' : 'current WAL position',
    };
  }
  const control = await readControlData(tools, dataDirectory);
  const lsns = [control['Minimum recovery ending location'], control['Latest checkpoint location']]
    .filter((v): v is string => !!v && /^[0-9A-F]+\/[0-9A-F]+$/i.test(v))
    .map(parseLsn);
  const timelines = [control["Min recovery ending loc's timeline"], control["Latest checkpoint's TimeLineID"]]
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return {
    running: false,
    systemId: control['Database system identifier'] ?? '',
    inRecovery: existsSync(join(dataDirectory, 'standby.signal')),
    timeline: Math.max(0, ...timelines),
    lsn: lsns.reduce((a, b) => (a > b ? a : b), 0n),
    source: 'pg_controldata (server stopped)',
  };
}

/** Asks the new leader who it is and what its history is. */
export async function readLeaderHistory(
  ctx: Context,
  conninfo: string,
): Promise<{
  identity: SystemIdentity & { inRecovery: boolean };
  history: Awaited<ReturnType<typeof readTimelineHistory>>;
}> {
  const options = { connectTimeoutMs: ctx.config.leader.connectTimeoutMs, queryTimeoutMs: 15_000 };
  const replication = await connect(conninfo, { ...options, replication: 'database' });
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

export async function planFollow(ctx: Context, tools: PgTools, leaderConninfo: string): Promise<FollowPlan> {
  const dataDirectory = resolve(requiredDataDirectory(ctx));
  ctx.reporter.step(`asking ${describeConninfo(leaderConninfo)} for its timeline history`);
  const [{ identity, history }, local] = await Promise.all([
    readLeaderHistory(ctx, leaderConninfo),
    readLocalFacts(ctx, tools, dataDirectory),
  ]);
  const checks: CheckResult[] = [];
  const where = describeConninfo(leaderConninfo);
  checks.push({
    name: 'same database cluster',
    ok: identity.systemId === local.systemId,
    detail:
      identity.systemId === local.systemId
        ? `system identifier ${local.systemId}`
        : `${where} is system ${identity.systemId}, this node is ${local.systemId}: a different cluster; run pgfollower rebuild --clone`,
  });
  checks.push({
    name: 'this node is a follower',
    ok: local.inRecovery,
    detail: local.inRecovery
      ? `standby on timeline ${local.timeline}`
      : `this node is a primary (timeline ${local.timeline}): it cannot follow; run pgfollower rebuild --leader ... to turn it into a follower`,
  });
  const verdict = compareTimelines(local.timeline, local.lsn, identity.timeline, history);
  const historyOk = verdict.kind === 'same-timeline' || verdict.kind === 'can-follow';
  checks.push({
    name: 'not past the fork point',
    ok: historyOk,
    detail: historyOk
      ? describeVerdict(verdict)
      : `${describeVerdict(verdict)}: this node has diverged; run pgfollower rebuild --leader '${maskConninfo(leaderConninfo)}'`,
    numbers: {
      local_timeline: local.timeline,
      local_lsn: formatLsn(local.lsn),
      local_source: local.source,
      leader_timeline: identity.timeline,
      leader_lsn: formatLsn(identity.xlogPos),
      fork_lsn:
        verdict.kind === 'can-follow' || verdict.kind === 'diverged' ? formatLsn(verdict.forkLsn) : null,
    },
  });
  if (local.running && (await isSameServer(ctx, leaderConninfo))) {
    checks.push({
      name: 'leader is another server',
      ok: false,
      detail: `${where} is this very server: pass the conninfo of the new leader`,
    });
  }
  if (identity.inRecovery) {
    checks.push({
      name: 'leader is a primary',
      ok: true,
      detail: `${where} is itself a standby: this node will replicate in cascade from it`,
    });
  }
  return {
    leaderConninfo,
    leader: identity,
    local,
    verdict,
    checks,
    ok: checks.every((c) => c.ok),
    slotName: ctx.config.slot.enabled ? ctx.config.slot.name : undefined,
  };
}

/**
 * true when `conninfo` reaches the local server itself (same system and same postmaster start
 * time): following or rewinding from yourself is a typo, not a failover.
 */
export async function isSameServer(ctx: Context, conninfo: string): Promise<boolean> {
  const probe = async (target: string): Promise<string | undefined> =>
    withClient(target, { connectTimeoutMs: 3000, queryTimeoutMs: 3000 }, async (c) => {
      const row = (
        await c.query<{ id: string }>(
          `SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || pg_postmaster_start_time()::text AS id`,
        )
      ).rows[0];
      return row?.id;
    }).catch(() => undefined);
  const [local, remote] = await Promise.all([probe(localConninfo(ctx.config.node)), probe(conninfo)]);
  return local !== undefined && local === remote;
}

export interface FollowResult {
  timeline: number;
  receiveLsn: string | null;
  slotCreated: boolean;
  restarted: boolean;
  ms: number;
}

/** Applies a plan that passed: slot on the new leader, primary_conninfo, reload or start, wait. */
export async function executeFollow(
  ctx: Context,
  tools: PgTools,
  plan: FollowPlan,
  options: { timeoutMs: number },
): Promise<FollowResult> {
  if (!plan.ok) {
    throw new RefusedError('follow refused', plan.checks, { hint: 'see the failed checks above' });
  }
  const started = ctx.clock.now();
  const dataDirectory = resolve(requiredDataDirectory(ctx));
  let slotCreated = false;
  if (plan.slotName && !plan.leader.inRecovery) {
    slotCreated = await ensureSlot(ctx, plan.leaderConninfo, plan.slotName);
  }
  try {
    return await repointAndWait(ctx, tools, plan, dataDirectory, options, started, slotCreated);
  } catch (error) {
    if (!slotCreated || !plan.slotName || !(error instanceof PgFollowerError)) throw error;
    // The slot we just created keeps WAL on the new leader for this node: say so, or a node
    // that is then abandoned fills the new leader's disk.
    throw new PgFollowerError(
      error.code,
      `${error.message}\nreplication slot ${plan.slotName} was created on ${describeConninfo(plan.leaderConninfo)} for this node and is kept: it holds WAL there until this node streams`,
      error.exitCode,
      {
        cause: error,
        hint: `${error.hint ?? 'fix the cause above'}; if you give up on this node instead, run SELECT pg_drop_replication_slot('${plan.slotName}') on the new leader`,
      },
    );
  }
}

async function repointAndWait(
  ctx: Context,
  tools: PgTools,
  plan: FollowPlan,
  dataDirectory: string,
  options: { timeoutMs: number },
  started: number,
  slotCreated: boolean,
): Promise<FollowResult> {
  const primaryConninfo = withApplicationName(plan.leaderConninfo, ctx.config.node.name);
  const changes = {
    primary_conninfo: primaryConninfo,
    primary_slot_name: plan.slotName && !plan.leader.inRecovery ? plan.slotName : null,
  };
  let restarted = false;
  if (plan.local.running) {
    ctx.reporter.step(`setting primary_conninfo to ${maskConninfo(primaryConninfo)} and reloading`);
    const needsRestart = await withClient(
      localConninfo(ctx.config.node),
      { connectTimeoutMs: 10_000 },
      async (c) => {
        await alterSystem(c, changes);
        // recovery_target_timeline needs a restart; 'latest' (the default since PostgreSQL 12) is what
        // lets a standby move onto the new leader's timeline.
        const target = await setting(c, 'recovery_target_timeline');
        if (target !== 'latest') {
          await alterSystem(c, { recovery_target_timeline: 'latest' });
          return true;
        }
        return false;
      },
    );
    if (needsRestart) {
      ctx.reporter.step('restarting: recovery_target_timeline was not latest');
      await stopServer(tools, dataDirectory, { mode: 'fast' });
      await startServer(tools, dataDirectory, { timeoutS: 300 });
      restarted = true;
    }
  } else {
    ctx.reporter.step(`writing primary_conninfo ${maskConninfo(primaryConninfo)} and starting the server`);
    await editAutoConf(dataDirectory, { ...changes, recovery_target_timeline: 'latest' }, ctx.exec.runAs);
    await startServer(tools, dataDirectory, { timeoutS: 300 });
    restarted = true;
  }
  const streaming = await waitForTimeline(ctx, plan.leader.timeline, options.timeoutMs);
  return {
    timeline: streaming.timeline,
    receiveLsn: streaming.receiveLsn,
    slotCreated,
    restarted,
    ms: ctx.clock.now() - started,
  };
}

export async function ensureSlot(ctx: Context, leaderConninfo: string, slotName: string): Promise<boolean> {
  return withClient(leaderConninfo, { connectTimeoutMs: ctx.config.leader.connectTimeoutMs }, async (c) => {
    if (await readSlot(c, slotName)) return false;
    ctx.reporter.step(`creating replication slot ${slotName} on the new leader`);
    await createPhysicalSlot(c, slotName);
    return true;
  });
}

async function setting(client: PgClient, name: string): Promise<string | null> {
  const { rows } = await client.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name]);
  return rows[0]?.v ?? null;
}

/** Waits until the receiver streams on `timeline` (or later) from the new leader. */
export async function waitForTimeline(
  ctx: Context,
  timeline: number,
  timeoutMs: number,
): Promise<{ timeline: number; receiveLsn: string | null }> {
  const deadline = ctx.clock.now() + timeoutMs;
  let last = 'server not answering';
  ctx.reporter.step(
    `waiting up to ${Math.round(timeoutMs / 1000)}s until this node streams on timeline ${timeline}`,
  );
  while (ctx.clock.now() < deadline) {
    try {
      const row = await withClient(
        localConninfo(ctx.config.node),
        { connectTimeoutMs: 3000, queryTimeoutMs: 3000 },
        async (c) =>
          (
            await c.query<{ status: string | null; tli: number | null; recv: string | null }>(
              `SELECT (SELECT status FROM pg_stat_wal_receiver) AS status,
                      (SELECT received_tli FROM pg_stat_wal_receiver) AS tli,
                      pg_last_wal_receive_lsn()::text AS recv`,
            )
          ).rows[0],
      );
      last = `receiver ${row?.status ?? 'not running'} on timeline ${row?.tli ?? '?'}`;
      if (row?.status === 'streaming' && row.tli !== null && row.tli >= timeline) {
        return { timeline: row.tli, receiveLsn: row.recv };
      }
    } catch (error) {
      last = (error as Error).message;
    }
    await delay(200, undefined, { signal: ctx.signal });
  }
  throw new PgFollowerError(
    'NOT_STREAMING',
    `this node did not stream on timeline ${timeline} within ${Math.round(timeoutMs / 1000)} s (${last})`,
    ExitCode.FAILED,
    {
      hint: 'read the server log: "not a child of this server\'s history" means it diverged (run pgfollower rebuild); otherwise check pg_hba.conf on the new leader',
    },
  );
}

function requiredDataDirectory(ctx: Context): string {
  const dir = ctx.config.node.dataDirectory;
  if (!dir) throw new PgFollowerError('CONFIG_MISSING', 'node.dataDirectory is required', ExitCode.USAGE);
  return dir;
}

/** primary_conninfo carries the node name so the leader's pg_stat_replication row names us. */
export function withApplicationName(conninfo: string, name: string | undefined): string {
  const info = parseConninfo(conninfo);
  if (name && !info.application_name) info.application_name = name;
  return formatConninfo(info);
}
