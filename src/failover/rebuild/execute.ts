import { existsSync, readdirSync } from 'node:fs';
import { realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { bootstrapFollower } from '../../bootstrap/bootstrap.js';
import { writeFollowerConfig } from '../../bootstrap/follower-config.js';
import { waitForStreaming } from '../../bootstrap/wait.js';
import { restoreCommandFor } from '../../archive/follower/restore-command.js';
import type { Context } from '../../context.js';
import { withClient } from '../../postgres/client.js';
import { describeConninfo, maskConninfo } from '../../postgres/conninfo.js';
import { serverStatus, startServer, stopServer, type PgTools } from '../../postgres/cluster.js';
import { listAside, removeAside } from '../../postgres/data-directory.js';
import { writeFileAtomic } from '../../postgres/fs-as.js';
import { splitPassword, withPasswordFile } from '../../postgres/passfile.js';
import { editAutoConf } from '../../postgres/standby-config.js';
import { compactTimestamp } from '../../util/time.js';
import { ensureSlot, REPOINTED_NOT_STREAMING_HINT } from '../new-leader.js';
import { rewindMarker, type RebuildOptions, type RebuildPlan, type RebuildMethod } from './plan.js';
import { explainCloneFailure } from './recover.js';

/**
 * Carries out a rebuild plan: pg_rewind in place (with this node's follower settings put back), or
 * a fresh clone through bootstrap, which is also the fallback when pg_rewind fails.
 */

interface RebuildResult {
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
      ctx.reporter.step(
        `waiting up to ${Math.round(options.streamTimeoutMs / 1000)}s until this node streams on timeline ${plan.leaderTimeline}`,
      );
      const streaming = await waitForStreaming(ctx, {
        timeline: plan.leaderTimeline,
        timeoutMs: options.streamTimeoutMs,
        hint: REPOINTED_NOT_STREAMING_HINT,
      });
      return {
        method: 'rewind',
        timeline: streaming.timeline ?? plan.leaderTimeline,
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
    copy = `${dataDirectory}.old-${compactTimestamp(ctx.clock.now())}`;
    ctx.reporter.step(`copying ${dataDirectory} to ${copy} before rewinding (--keep-old)`);
    await ctx.exec.run('cp', ['-a', '--reflink=auto', dataDirectory, copy], { signal: ctx.signal });
  }
  const restoreCommand = restoreCommandFor(ctx.config, { configFile: options.configFile });
  // A password in the conninfo goes to a temporary passfile (below), never onto the command line.
  const source = splitPassword(plan.leaderConninfo);
  const args = [`--target-pgdata=${dataDirectory}`, `--source-server=${source.conninfo}`, '--progress'];
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
      started: new Date(ctx.clock.now()).toISOString(),
      leader: maskConninfo(plan.leaderConninfo),
      pid: process.pid,
    }) + '\n',
    runAs,
  );
  await ensureSourceCheckpointed(ctx, plan);
  ctx.reporter.step(`running pg_rewind from ${describeConninfo(plan.leaderConninfo)}`);
  await withPasswordFile(plan.leaderConninfo, runAs, (_conninfo, passEnv) =>
    ctx.exec.run(tools.bin.path('pg_rewind'), args, {
      signal: ctx.signal,
      env: { LC_ALL: 'C', ...passEnv },
      onStderrLine: (line) => {
        const match = /(\d+)\/(\d+) kB/.exec(line);
        if (match) ctx.reporter.progress(Number(match[1]) * 1024, Number(match[2]) * 1024, 'pg_rewind');
        else ctx.logger.debug({ line }, 'pg_rewind');
      },
      hint: 'read the messages above; the rebuild falls back to a fresh clone',
    }),
  );
  ctx.reporter.progressEnd();
  if (syncfs[0] === '--no-sync') await syncFilesystems(ctx, dataDirectory);
  await unlink(marker);
  ctx.reporter.done('pg_rewind finished');
  await configureRewoundStandby(ctx, plan, restoreCommand);
  if (ctx.config.slot.enabled && ctx.config.slot.name)
    await ensureSlot(ctx, plan.leaderConninfo, ctx.config.slot.name);
  ctx.reporter.step('starting the rewound server as a follower');
  await startServer(tools, dataDirectory, { timeoutS: 300 });
  return copy;
}

/** pg_rewind copied the leader's configuration files: put back what is this node's own. */
export async function configureRewoundStandby(
  ctx: Context,
  plan: Pick<RebuildPlan, 'dataDirectory' | 'leaderConninfo'>,
  restoreCommand: string | undefined,
): Promise<void> {
  await writeFollowerConfig(ctx, plan.dataDirectory, plan.leaderConninfo, { restoreCommand });
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
 * pg_rewind reads the source's timeline from its pg_control, which a just-promoted server updates
 * only at its first checkpoint after promotion. Before that, pg_rewind sees both on the same
 * timeline and reports "no rewind required", leaving a diverged directory. So: checkpoint first.
 */
async function ensureSourceCheckpointed(ctx: Context, plan: RebuildPlan): Promise<void> {
  await withClient(
    plan.leaderConninfo,
    { signal: ctx.signal, connectTimeoutMs: ctx.config.leader.connectTimeoutMs },
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
