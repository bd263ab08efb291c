import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { realpath, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bootstrapFollower } from '../bootstrap/bootstrap.js';
import { restoreCommandFor } from '../archive/follower/restore-command.js';
import type { Context } from '../context.js';
import { ExitCode, PgFollowerError, RefusedError, type CheckResult } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { describeConninfo, maskConninfo } from '../postgres/conninfo.js';
import { readControlData, serverStatus, startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { inspectDirectory, listAside, removeAside, restoreAside } from '../postgres/data-directory.js';
import { writeFileAtomic } from '../postgres/fs-as.js';
import { formatLsn } from '../postgres/lsn.js';
import { editAutoConf, writeStandbyConfig } from '../postgres/standby-config.js';
import { compareTimelines, describeVerdict, type ForkVerdict } from '../postgres/timeline.js';
import {
  ensureSlot,
  readLeaderHistory,
  isSameServer,
  readLocalFacts,
  waitForTimeline,
  withApplicationName,
} from './follow.js';

/**
 * `rebuild`: turn this node (a failed old leader, a diverged or stalled follower) into a follower
 * of the leader. pg_rewind first: it copies only the blocks that changed since the fork, which is
 * far cheaper than a full copy; it needs wal_log_hints or data checksums and a clean shutdown.
 * Otherwise (or with --clone) a fresh pg_basebackup through bootstrap, with the old directory kept
 * aside until the new one streams. Never leaves the node without a recoverable data directory: a
 * failed clone puts a standby's old directory back, or names where an old leader's directory is.
 * https://www.postgresql.org/docs/current/app-pgrewind.html
 */

export type RebuildMethod = 'rewind' | 'clone';

export interface RebuildPlan {
  leaderConninfo: string;
  dataDirectory: string;
  method: RebuildMethod;
  /** Why this method: shown before acting. */
  reasons: string[];
  checks: CheckResult[];
  directoryState: ReturnType<typeof inspectDirectory>;
  wasStandby: boolean;
  leaderTimeline: number;
  /** Directories earlier runs left aside, kept. */
  leftAside: string[];
}

export interface RebuildOptions {
  leader: string;
  clone?: boolean;
  /** Config file, so the restore_command written for the archive can find it. */
  configFile?: string | undefined;
}

/** Marker next to the data directory while pg_rewind changes it in place. */
export function rewindMarker(dataDirectory: string): string {
  return `${resolve(dataDirectory)}.rewind-in-progress`;
}

export async function planRebuild(
  ctx: Context,
  tools: PgTools,
  options: RebuildOptions,
): Promise<RebuildPlan> {
  const dataDirectory = resolve(required(ctx.config.node.dataDirectory, 'node.dataDirectory'));
  required(ctx.config.node.name, 'node.name');
  const where = describeConninfo(options.leader);
  ctx.reporter.step(`asking ${where} who it is`);
  const { identity, history } = await readLeaderHistory(ctx, options.leader);
  const checks: CheckResult[] = [];
  const reasons: string[] = [];
  checks.push({
    name: 'leader reachable',
    ok: true,
    detail: `${where}: system ${identity.systemId}, timeline ${identity.timeline}, at ${formatLsn(identity.xlogPos)}${identity.inRecovery ? ' (a standby: cascading)' : ''}`,
  });
  const directoryState = inspectDirectory(dataDirectory);
  let method: RebuildMethod = options.clone ? 'clone' : 'rewind';
  if (options.clone) reasons.push('--clone given');
  let wasStandby = false;

  if (directoryState !== 'data-directory') {
    method = 'clone';
    reasons.push(`${dataDirectory} is ${directoryState}: nothing to rewind`);
  } else {
    wasStandby = existsSync(join(dataDirectory, 'standby.signal'));
    const control = await readControlData(tools, dataDirectory);
    const systemId = control['Database system identifier'] ?? '';
    const hints = control['wal_log_hints setting'] === 'on';
    const checksums = (control['Data page checksum version'] ?? '0') !== '0';
    const sameSystem = systemId === identity.systemId;
    checks.push({
      name: 'same database cluster',
      ok: true,
      detail: sameSystem
        ? `system identifier ${systemId}`
        : `local ${systemId} differs from the leader's ${identity.systemId}: only a clone can help`,
    });
    if (!sameSystem) {
      method = 'clone';
      reasons.push('this directory belongs to another cluster');
    }
    if (!hints && !checksums) {
      method = 'clone';
      reasons.push('pg_rewind needs wal_log_hints=on or data checksums, and this directory has neither');
    }
    if (existsSync(rewindMarker(dataDirectory))) {
      method = 'clone';
      reasons.push(
        `an earlier pg_rewind was interrupted (${rewindMarker(dataDirectory)}): the directory is not trusted`,
      );
    }
    if (sameSystem) {
      let verdict: ForkVerdict | undefined;
      try {
        const local = await readLocalFacts(ctx, tools, dataDirectory);
        verdict = compareTimelines(local.timeline, local.lsn, identity.timeline, history);
        checks.push({ name: 'history', ok: true, detail: describeVerdict(verdict) });
        // A node on a newer timeline than the "leader" is most likely the promoted leader itself,
        // and --leader (or a stale leader.conninfo) names the old one: rebuilding would throw away
        // every write since the promotion.
        // A primary's directory on the very timeline of the "leader": nobody was promoted, so the
        // "leader" is a standby (of this node, most likely) and this node may hold commits it lacks.
        if (!wasStandby && verdict.kind === 'same-timeline') {
          checks.push({
            name: 'the leader was promoted after this node',
            ok: false,
            detail: `this node is a primary's data directory on timeline ${local.timeline}, and ${where} is on the same timeline${identity.inRecovery ? ' and still a standby' : ''}: nobody was promoted, so this node may still be the leader; promote the new leader first (pgfollower promote there), then rebuild this node from it`,
            numbers: { local_timeline: local.timeline, leader_timeline: identity.timeline },
          });
        }
        if (local.timeline > identity.timeline) {
          checks.push({
            name: 'this node is not newer than the leader',
            ok: false,
            detail: `this node is on timeline ${local.timeline}, newer than ${where}'s timeline ${identity.timeline}: it is probably the current leader and ${where} the old one; rebuild ${where} from this node instead (run pgfollower rebuild --leader <this node> on that host)`,
            numbers: { local_timeline: local.timeline, leader_timeline: identity.timeline },
          });
        }
      } catch (error) {
        // A stopped, broken directory is what rebuild is for; but a server that runs and does not
        // answer could be the current leader, and the guards above could not look.
        const running = (await serverStatus(tools, dataDirectory).catch(() => 'unknown')) === 'running';
        checks.push({
          name: 'history',
          ok: !running,
          detail: running
            ? `could not ask the local server, which is running: ${(error as Error).message}; fix node.host/node.port/node.user so pgfollower can connect, or stop it (pg_ctl stop -D ${dataDirectory} -m fast) if it is not the leader`
            : `could not compare: ${(error as Error).message}`,
        });
      }
      if (await isSameServer(ctx, options.leader)) {
        checks.push({
          name: 'leader is another server',
          ok: false,
          detail: `${where} is this very server: pass the conninfo of the new leader`,
        });
      }
      // A follower that has not diverged has nothing for pg_rewind to undo: if it is stuck, it is
      // because the WAL it needs is gone, and only a fresh copy helps (or `follow`, to re-point it).
      if (
        wasStandby &&
        (verdict?.kind === 'same-timeline' || verdict?.kind === 'can-follow') &&
        method === 'rewind'
      ) {
        method = 'clone';
        reasons.push(
          'this follower has not diverged, so pg_rewind has nothing to undo; a fresh copy replaces it (to only re-point it, run pgfollower follow instead)',
        );
      }
    }
    if (method === 'rewind')
      reasons.push(`pg_rewind possible (${hints ? 'wal_log_hints=on' : 'data checksums'})`);
  }
  return {
    leaderConninfo: options.leader,
    dataDirectory,
    method,
    reasons,
    checks,
    directoryState,
    wasStandby,
    leaderTimeline: identity.timeline,
    leftAside: listAside(dataDirectory),
  };
}

export interface RebuildResult {
  method: RebuildMethod;
  /** Set when pg_rewind failed and the clone took over. */
  rewindFailure?: string;
  timeline: number;
  receiveLsn: string | null;
  ms: number;
  /** Old directory: kept (--keep-old) or removed after the new one streamed. */
  oldDirectory?: string;
  oldRemoved: boolean;
}

export async function executeRebuild(
  ctx: Context,
  tools: PgTools,
  plan: RebuildPlan,
  options: RebuildOptions & { keepOld?: boolean; streamTimeoutMs: number; maxRate?: string | undefined },
): Promise<RebuildResult> {
  const started = ctx.clock.now();
  const { dataDirectory } = plan;
  if ((await serverStatus(tools, dataDirectory)) === 'running') {
    ctx.reporter.step(`stopping the local server (pg_ctl stop -m fast) so it can be rebuilt`);
    await stopServer(tools, dataDirectory, { mode: 'fast' });
  }
  let rewindFailure: string | undefined;
  if (plan.method === 'rewind') {
    let rewound = false;
    let copy: string | undefined;
    try {
      copy = await rewind(ctx, tools, plan, options);
      rewound = true;
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      rewindFailure = (error as Error).message;
      ctx.reporter.warn(`pg_rewind did not work (${rewindFailure}); falling back to a fresh clone`);
      if ((await serverStatus(tools, dataDirectory)) === 'running')
        await stopServer(tools, dataDirectory, { mode: 'fast' });
    }
    if (rewound) {
      // A rewound node that does not stream is a configuration problem (pg_hba, slot), not one a
      // clone would fix: report it rather than copying everything.
      const streaming = await waitForTimeline(ctx, plan.leaderTimeline, options.streamTimeoutMs);
      return {
        method: 'rewind',
        timeline: streaming.timeline,
        receiveLsn: streaming.receiveLsn,
        ms: ctx.clock.now() - started,
        oldDirectory: copy,
        oldRemoved: false,
      };
    }
  }
  const clone = await cloneFresh(ctx, tools, plan, options);
  return { ...clone, rewindFailure, ms: ctx.clock.now() - started };
}

async function rewind(
  ctx: Context,
  tools: PgTools,
  plan: RebuildPlan,
  options: RebuildOptions & { keepOld?: boolean },
): Promise<string | undefined> {
  const { dataDirectory } = plan;
  const marker = rewindMarker(dataDirectory);
  const runAs = ctx.exec.runAs;
  let copy: string | undefined;
  if (options.keepOld) {
    // pg_rewind changes the directory in place: --keep-old keeps a copy of what it was first
    // (a reflink where the filesystem can, so it is cheap on btrfs/XFS).
    copy = `${dataDirectory}.old-${stamp()}`;
    ctx.reporter.step(`copying ${dataDirectory} to ${copy} before rewinding (--keep-old)`);
    await ctx.exec.run('cp', ['-a', '--reflink=auto', dataDirectory, copy], { signal: ctx.signal });
  }
  const restoreCommand = restoreCommandFor(ctx.config, { configFile: options.configFile });
  const args = [`--target-pgdata=${dataDirectory}`, `--source-server=${plan.leaderConninfo}`, '--progress'];
  // pg_rewind fsyncs every file of the directory, one at a time: on a disk with slow fsync that is
  // seconds for a directory it barely changed. PostgreSQL 17 offers --sync-method=syncfs; before
  // that we skip its sync and flush each filesystem the cluster lives on with one syncfs(2) each
  // (`sync -f`) before the marker is removed and the server starts: the same durability.
  const syncfs = tools.bin.major >= 17 ? ['--sync-method=syncfs'] : ['--no-sync'];
  args.push(...syncfs);
  if (restoreCommand) {
    // WAL the old leader needs but already recycled may still be in the archive.
    await editAutoConf(dataDirectory, { restore_command: restoreCommand }, runAs);
    args.push('--restore-target-wal');
  }
  await writeFileAtomic(
    marker,
    JSON.stringify({
      started: new Date().toISOString(),
      leader: maskConninfo(plan.leaderConninfo),
      pid: process.pid,
    }) + '\n',
    runAs,
  );
  await ensureSourceCheckpointed(ctx, plan);
  ctx.reporter.step(`running pg_rewind from ${describeConninfo(plan.leaderConninfo)}`);
  await ctx.exec.run(tools.bin.path('pg_rewind'), args, {
    signal: ctx.signal,
    env: { LC_ALL: 'C' },
    onStderrLine: (line) => {
      const match = /(\d+)\/(\d+) kB/.exec(line);
      if (match) ctx.reporter.progress(Number(match[1]) * 1024, Number(match[2]) * 1024, 'pg_rewind');
      else ctx.logger.debug({ line }, 'pg_rewind');
    },
    hint: 'read the messages above; the rebuild falls back to a fresh clone',
  });
  ctx.reporter.progressEnd();
  if (syncfs[0] === '--no-sync') await syncFilesystems(ctx, dataDirectory);
  await unlink(marker);
  ctx.reporter.done('pg_rewind finished');
  await configureStandby(ctx, plan, restoreCommand);
  if (ctx.config.slot.enabled && ctx.config.slot.name)
    await ensureSlot(ctx, plan.leaderConninfo, ctx.config.slot.name);
  ctx.reporter.step('starting the rewound server as a follower');
  await startServer(tools, dataDirectory, { timeoutS: 300 });
  return copy;
}

/** pg_rewind copied the leader's configuration files: put back what is this node's own. */
async function configureStandby(
  ctx: Context,
  plan: RebuildPlan,
  restoreCommand: string | undefined,
): Promise<void> {
  const { node } = ctx.config;
  await writeStandbyConfig(
    plan.dataDirectory,
    {
      primaryConninfo: withApplicationName(plan.leaderConninfo, node.name),
      slotName: ctx.config.slot.enabled ? ctx.config.slot.name : undefined,
      restoreCommand,
      port: node.port,
      extra: node.host.startsWith('/') ? { unix_socket_directories: node.host } : {},
    },
    ctx.exec.runAs,
  );
}

async function cloneFresh(
  ctx: Context,
  tools: PgTools,
  plan: RebuildPlan,
  options: RebuildOptions & { keepOld?: boolean; streamTimeoutMs: number; maxRate?: string | undefined },
): Promise<Omit<RebuildResult, 'ms'>> {
  const { dataDirectory } = plan;
  const before = new Set(listAside(dataDirectory));
  try {
    const result = await bootstrapFollower(ctx, {
      force: true,
      restoreCommand: restoreCommandFor(ctx.config, { configFile: options.configFile }),
      maxRate: options.maxRate,
      streamTimeoutMs: options.streamTimeoutMs,
    });
    if (existsSync(rewindMarker(dataDirectory))) await unlink(rewindMarker(dataDirectory));
    let oldRemoved = false;
    if (result.movedAside && !options.keepOld) {
      ctx.reporter.step(`the new copy streams: removing the old directory ${result.movedAside}`);
      await removeAside(result.movedAside, { configured: dataDirectory });
      oldRemoved = true;
    }
    return {
      method: 'clone',
      timeline: result.streaming?.timeline ?? plan.leaderTimeline,
      receiveLsn: result.streaming?.receiveLsn ?? null,
      oldDirectory: result.movedAside,
      oldRemoved,
    };
  } catch (error) {
    const old = listAside(dataDirectory).find((p) => !before.has(p) && /\.old-[^/]*$/.test(p));
    throw await explainCloneFailure(ctx, tools, plan, error, old);
  }
}

/**
 * The clone failed: the configured path now holds nothing (bootstrap removed its incomplete copy)
 * or a `.failed-` copy sits next to it. A follower's old directory goes back in place, so the node
 * is as it was; an old leader's stays aside (started as is, it would be a second primary).
 */
async function explainCloneFailure(
  ctx: Context,
  tools: PgTools,
  plan: RebuildPlan,
  error: unknown,
  old: string | undefined,
): Promise<PgFollowerError> {
  const cause = error instanceof Error ? error.message : String(error);
  if (!old) {
    return error instanceof PgFollowerError
      ? error
      : new PgFollowerError('REBUILD_FAILED', `rebuild failed: ${cause}`, ExitCode.FAILED, { cause: error });
  }
  if (plan.wasStandby && !existsSync(plan.dataDirectory) && !existsSync(rewindMarker(plan.dataDirectory))) {
    try {
      await restoreAside(tools, old, { configured: plan.dataDirectory });
      return new PgFollowerError(
        'REBUILD_FAILED',
        `rebuild by clone failed: ${cause}\nthe previous data directory was put back in place at ${plan.dataDirectory}; the node is as before`,
        ExitCode.FAILED,
        { cause: error, hint: 'fix the cause above and run pgfollower rebuild again' },
      );
    } catch (restoreError) {
      ctx.logger.error({ err: restoreError }, 'could not put the previous directory back');
    }
  }
  if (existsSync(rewindMarker(plan.dataDirectory))) {
    // pg_rewind started on that directory and did not finish: it may be half rewound, and started
    // as is it would run on silently inconsistent data. Never offer it as a way back.
    return new PgFollowerError(
      'REBUILD_FAILED',
      `rebuild by clone failed: ${cause}\nthe previous data directory is kept at ${old}, but an unfinished pg_rewind may have changed it (${rewindMarker(plan.dataDirectory)}): do not start it`,
      ExitCode.FAILED,
      {
        cause: error,
        hint: `fix the cause above and run pgfollower rebuild --leader '${maskConninfo(plan.leaderConninfo)}' --clone --yes again (it clones into ${plan.dataDirectory}); keep ${old} until the new copy streams`,
      },
    );
  }
  return new PgFollowerError(
    'REBUILD_FAILED',
    `rebuild by clone failed: ${cause}\nthe previous data directory is kept, untouched, at ${old}`,
    ExitCode.FAILED,
    {
      cause: error,
      hint: `run pgfollower rebuild --leader '${maskConninfo(plan.leaderConninfo)}' --yes again (it clones into ${plan.dataDirectory}); to go back instead: mv ${old} ${plan.dataDirectory}${plan.wasStandby ? '' : ' (an old leader: make it a standby before starting it, or it becomes a second primary)'}`,
    },
  );
}

function required(value: string | undefined, key: string): string {
  if (!value) throw new PgFollowerError('CONFIG_MISSING', `${key} is required`, ExitCode.USAGE);
  return value;
}

function stamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** Refusal used by the CLI when the plan cannot be carried out at all. */
export function refuseRebuild(message: string, checks: CheckResult[]): RefusedError {
  return new RefusedError(message, checks);
}

/** Reads the marker left by an interrupted rewind, for messages. */
export function readRewindMarker(dataDirectory: string): string | undefined {
  const file = rewindMarker(dataDirectory);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/**
 * pg_rewind reads the source's timeline from its pg_control, which a just-promoted server updates
 * only at its first checkpoint after promotion. Before that, pg_rewind sees both on the same
 * timeline and reports "no rewind required", leaving a diverged directory. So: checkpoint first.
 */
async function ensureSourceCheckpointed(ctx: Context, plan: RebuildPlan): Promise<void> {
  await withClient(
    plan.leaderConninfo,
    { connectTimeoutMs: ctx.config.leader.connectTimeoutMs },
    async (c) => {
      const row = (await c.query<{ tli: number }>('SELECT timeline_id AS tli FROM pg_control_checkpoint()'))
        .rows[0];
      if (row && Number(row.tli) >= plan.leaderTimeline) return;
      ctx.reporter.step(
        `the leader's pg_control still shows timeline ${row?.tli}: running CHECKPOINT there first`,
      );
      await c.query('CHECKPOINT');
    },
  );
}

/** syncfs(2) on every filesystem holding part of the cluster: the directory, pg_wal and tablespaces. */
async function syncFilesystems(ctx: Context, dataDirectory: string): Promise<void> {
  const paths = new Set<string>([dataDirectory]);
  for (const link of [join(dataDirectory, 'pg_wal'), ...listTablespaces(dataDirectory)]) {
    try {
      paths.add(await realpath(link));
    } catch {
      // a dangling tablespace link: PostgreSQL will say so at start
    }
  }
  ctx.reporter.step(`flushing ${[...paths].join(', ')} to disk (syncfs)`);
  await ctx.exec.run('sync', ['-f', ...paths], { signal: ctx.signal });
}

function listTablespaces(dataDirectory: string): string[] {
  const dir = join(dataDirectory, 'pg_tblspc');
  return existsSync(dir) ? readdirSync(dir).map((e) => join(dir, e)) : [];
}
