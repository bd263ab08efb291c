import type { Context } from '../context.js';
import { PgFollowerError, RefusedError, type CheckResult } from '../errors.js';
import { waitForStreaming } from '../bootstrap/wait.js';
import { localConninfo, withClient } from '../postgres/client.js';
import { describeConninfo, maskConninfo, withApplicationName } from '../postgres/conninfo.js';
import { startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { formatLsn } from '../postgres/lsn.js';
import {
  alterSystem,
  applyDelaySettings,
  editAutoConf,
  writeStandbySignal,
} from '../postgres/standby-config.js';
import { compareTimelines, describeVerdict, type ForkVerdict } from '../postgres/timeline.js';
import {
  isSameServer,
  readLocalFacts,
  readSetting,
  requireDataDirectory,
  type LocalFacts,
} from './local-node.js';
import { decideCascade } from './follow-cascade.js';
import {
  ensureSlot,
  readLeaderHistory,
  REPOINTED_NOT_STREAMING_HINT,
  type LeaderIdentity,
} from './new-leader.js';

/**
 * `follow`: re-point a follower at a new leader after a failover. Safe only when this node's WAL
 * is a prefix of the new leader's history: compare the leader's timeline history with how far this
 * node got; if it went past the fork point it has diverged and must be rebuilt instead.
 * https://www.postgresql.org/docs/current/warm-standby.html#STANDBY-SERVER-OPERATION
 */

interface FollowPlan {
  /** Where this node will stream from: the new leader, or its upstream when a cascade is kept. */
  leaderConninfo: string;
  /** The new leader named with --leader. */
  newLeaderConninfo: string;
  /** A cascaded follower whose upstream follows the new leader keeps it (follow-cascade.ts). */
  cascadeKept: boolean;
  leader: LeaderIdentity;
  local: LocalFacts;
  verdict: ForkVerdict;
  checks: CheckResult[];
  ok: boolean;
  slotName: string | undefined;
}

export async function planFollow(
  ctx: Context,
  tools: PgTools,
  newLeaderConninfo: string,
  options: { direct?: boolean | undefined } = {},
): Promise<FollowPlan> {
  const dataDirectory = requireDataDirectory(ctx);
  ctx.reporter.step(`asking ${describeConninfo(newLeaderConninfo)} for its timeline history`);
  const [{ identity: newLeader, history }, local] = await Promise.all([
    readLeaderHistory(ctx, newLeaderConninfo),
    readLocalFacts(ctx, tools, dataDirectory),
  ]);
  const checks: CheckResult[] = [];
  // A cascaded follower may keep its upstream (a standby on the new leader's timeline: the same
  // history); everything below is then judged against the node it will stream from.
  const cascade = await decideCascade(ctx, newLeaderConninfo, newLeader, options);
  const leaderConninfo = cascade?.target ?? newLeaderConninfo;
  const identity = cascade?.identity ?? newLeader;
  const where = describeConninfo(leaderConninfo);
  checks.push({
    name: 'same database cluster',
    ok: identity.systemId === local.systemId,
    detail:
      identity.systemId === local.systemId
        ? `system identifier ${local.systemId}`
        : `${where} is system ${identity.systemId}, this node is ${local.systemId}: a different cluster; run pgfollower rebuild --clone`,
  });
  // A cleanly stopped old leader (a planned switchover) may follow as it is: its WAL ends with the
  // shutdown checkpoint, so it is a prefix of the new timeline when that forks after the checkpoint.
  const cleanOldLeader = !local.inRecovery && !local.running && local.cleanShutdown === true;
  checks.push({
    name: 'this node is a follower',
    ok: local.inRecovery || cleanOldLeader,
    detail: local.inRecovery
      ? `standby on timeline ${local.timeline}`
      : cleanOldLeader
        ? `a primary stopped cleanly (shutdown checkpoint at ${formatLsn(local.lsn)} on timeline ${local.timeline}): it can follow without pg_rewind if the new leader has that checkpoint`
        : `this node is a primary (timeline ${local.timeline}${local.running ? ', running' : ', not shut down cleanly'}): it cannot follow; run pgfollower rebuild --leader ... to turn it into a follower`,
  });
  // The checkpoint record starts at lsn; the new timeline must fork after it (have all of it).
  const verdict = compareTimelines(
    local.timeline,
    cleanOldLeader ? local.lsn + 1n : local.lsn,
    identity.timeline,
    history,
  );
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
  if (cascade) checks.push(cascade.check);
  else if (identity.inRecovery) {
    checks.push({
      name: 'leader is a primary',
      ok: true,
      detail: `${where} is itself a standby: this node will replicate in cascade from it`,
    });
  }
  return {
    leaderConninfo,
    newLeaderConninfo,
    cascadeKept: cascade?.kept === true,
    leader: identity,
    local,
    verdict,
    checks,
    ok: checks.every((c) => c.ok),
    slotName: ctx.config.slot.enabled ? ctx.config.slot.name : undefined,
  };
}

interface FollowResult {
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
  const dataDirectory = requireDataDirectory(ctx);
  let slotCreated = false;
  // The slot lives on the node this one streams from, a standby upstream too (cascading).
  if (plan.slotName) {
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
    primary_slot_name: plan.slotName ?? null,
    ...applyDelaySettings(ctx.config.node.applyDelay),
  };
  let restarted = false;
  if (plan.local.running) {
    ctx.reporter.step(`setting primary_conninfo to ${maskConninfo(primaryConninfo)} and reloading`);
    const needsRestart = await withClient(
      localConninfo(ctx.config.node),
      { signal: ctx.signal, connectTimeoutMs: 10_000 },
      async (c) => {
        await alterSystem(c, changes);
        // recovery_target_timeline needs a restart; 'latest' (the default since PostgreSQL 12) is what
        // lets a standby move onto the new leader's timeline.
        const target = await readSetting(c, 'recovery_target_timeline');
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
    if (!plan.local.inRecovery) await writeStandbySignal(dataDirectory, ctx.exec.runAs);
    await startServer(tools, dataDirectory, { timeoutS: 300 });
    restarted = true;
  }
  ctx.reporter.step(
    `waiting up to ${Math.round(options.timeoutMs / 1000)}s until this node streams on timeline ${plan.leader.timeline}`,
  );
  const streaming = await waitForStreaming(ctx, {
    timeline: plan.leader.timeline,
    timeoutMs: options.timeoutMs,
    hint: REPOINTED_NOT_STREAMING_HINT,
  });
  return {
    timeline: streaming.timeline ?? plan.leader.timeline,
    receiveLsn: streaming.receiveLsn,
    slotCreated,
    restarted,
    ms: ctx.clock.now() - started,
  };
}
