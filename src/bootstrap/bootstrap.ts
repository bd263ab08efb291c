import { rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { Context } from '../context.js';
import {
  RefusedError,
  PgFollowerError,
  StoppedError,
  ExitCode,
  DatabaseUnavailableError,
  type CheckResult,
} from '../errors.js';
import { requireSetting } from '../config/required.js';
import { formatBytes } from '../config/units.js';
import { findPgBinaries, type PgBinaries } from '../postgres/binaries.js';
import { connect, type PgClient } from '../postgres/client.js';
import { maskConninfo } from '../postgres/conninfo.js';
import { serverStatus, startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { inspectDirectory, moveAside, removeAside } from '../postgres/data-directory.js';
import { dropSlot, readSlot, reserveWal, type WalReservation } from '../postgres/slots.js';
import { compactTimestamp } from '../util/time.js';
import { runBaseBackup } from './base-backup.js';
import { writeFollowerConfig } from './follower-config.js';
import { evaluatePreflight, measureFreeBytes, readLeaderFacts, type LeaderFacts } from './preflight.js';
import { clearTarget } from './target.js';
import { leaderSeesStreaming, waitForStreaming, type StreamingInfo } from './wait.js';

interface BootstrapOptions {
  /** Move a non-empty data directory aside instead of refusing. */
  force?: boolean;
  /** Leave the server stopped after the copy. */
  start?: boolean;
  /** Asked once, after the plan is shown; return false to stop before any change. */
  confirm?: (plan: string) => Promise<boolean>;
  /** restore_command to write (archive configured); see src/archive/restore-command.ts. */
  restoreCommand?: string | undefined;
  /** Extra standby settings (the demo sandbox sets its socket directory). */
  extraSettings?: Record<string, string | number | boolean>;
  /** pg_basebackup --max-rate (e.g. 100M), so a copy does not saturate the leader's network. */
  maxRate?: string | undefined;
  /** More pg_basebackup arguments (--tablespace-mapping, from tablespaceMappingArgs). */
  basebackupArgs?: string[];
  /** Deadline for the follower to stream after start. */
  streamTimeoutMs?: number;
}

interface BootstrapResult {
  dataDirectory: string;
  slotName: string | undefined;
  slotCreated: boolean;
  movedAside: string | undefined;
  copiedBytes: number;
  durationMs: number;
  streaming: StreamingInfo | undefined;
  checks: CheckResult[];
  leader: LeaderFacts;
}

/**
 * Makes this host a follower of the leader: pre-flight, WAL reservation, pg_basebackup into a
 * staging directory, standby config, rename into place, permanent slot, start, wait for streaming.
 * Any failure before the rename leaves only a `.incomplete-` directory that is then removed, and no
 * slot (the reservation is a temporary slot); a failure after it moves the new directory aside as
 * `.failed-` and drops the slot this run created.
 */
export async function bootstrapFollower(
  ctx: Context,
  options: BootstrapOptions = {},
): Promise<BootstrapResult> {
  const started = ctx.clock.now();
  const { config, reporter, logger } = ctx;
  const dataDirectory = resolve(requireSetting(config.node.dataDirectory, 'node.dataDirectory'));
  const leaderConninfo = requireSetting(config.leader.conninfo, 'leader.conninfo');
  const nodeName = requireSetting(config.node.name, 'node.name');
  const slotName = config.slot.enabled ? config.slot.name : undefined;

  reporter.step(`connecting to the leader at ${maskConninfo(leaderConninfo)}`);
  const connectOptions = {
    connectTimeoutMs: config.leader.connectTimeoutMs,
    applicationName: `pgfollower-${nodeName}`,
    signal: ctx.signal,
    // Every statement here is short (the size of the databases the longest); a link that drops
    // packets silently must not hold bootstrap, or its cleanup, forever.
    queryTimeoutMs: 2 * 60_000,
  };
  // Both connections at once, and the pre-flight reads in parallel: bootstrap should cost little
  // more than pg_basebackup itself (docs/benchmarks.md).
  const [sqlAttempt, replicationAttempt] = await Promise.allSettled([
    connect(leaderConninfo, connectOptions),
    connect(leaderConninfo, { ...connectOptions, replication: 'physical' }),
  ]);
  if (sqlAttempt.status === 'rejected' || replicationAttempt.status === 'rejected') {
    if (sqlAttempt.status === 'fulfilled') await sqlAttempt.value.end().catch(() => undefined);
    if (replicationAttempt.status === 'fulfilled')
      await replicationAttempt.value.end().catch(() => undefined);
    if (sqlAttempt.status === 'rejected') throw sqlAttempt.reason;
    const reason = (replicationAttempt as PromiseRejectedResult).reason as Error;
    throw new DatabaseUnavailableError(
      `the leader accepts SQL connections but refuses a replication connection: ${reason.message}`,
      {
        cause: reason,
        hint: "add a 'host replication <user> <this host>/32 scram-sha-256' line to the leader's pg_hba.conf (then SELECT pg_reload_conf()), and make sure the user has the REPLICATION attribute",
      },
    );
  }
  const sql = sqlAttempt.value;
  // The replication connection later holds the temporary slot that reserves WAL for the copy.
  let replication: PgClient | undefined = replicationAttempt.value;
  let reservation: WalReservation | undefined;
  let slotCreated = false;
  let staging: string | undefined;
  let placed = false;
  try {
    const [leader, slotRead, freeBytes] = await Promise.all([
      readLeaderFacts(sql, replication),
      slotName ? readSlot(sql, slotName) : Promise.resolve(undefined),
      measureFreeBytes(dataDirectory),
    ]);
    let existingSlot = slotRead;

    const leaderMajor = Math.floor(leader.serverVersionNum / 10000);
    // Look again only when the programs found at start are of another major than the leader's.
    const bin: PgBinaries =
      config.node.binDir || ctx.bin.major === leaderMajor
        ? ctx.bin
        : await findPgBinaries({ major: leaderMajor });
    const tools: PgTools = { exec: ctx.exec, bin, signal: ctx.signal };
    const directoryState = inspectDirectory(dataDirectory);
    const checks = evaluatePreflight({
      leader,
      localMajor: bin.major,
      dataDirectory,
      directoryState,
      force: options.force === true,
      slotName,
      existingSlot,
      freeBytes,
      diskMargin: config.node.diskMargin,
    });
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new RefusedError(`bootstrap refused: ${failed.map((c) => c.name).join(', ')}`, checks, {
        hint: 'fix the failed checks above and run bootstrap again; nothing was changed',
      });
    }
    for (const c of checks) reporter.done(`${c.name}: ${c.detail}`);

    const plan = [
      `copy ${formatBytes(leader.databaseBytes)} from the leader with pg_basebackup -X stream into ${dataDirectory}`,
      directoryState === 'data-directory' || directoryState === 'other'
        ? `first move the existing ${dataDirectory} aside (kept, not deleted)`
        : undefined,
      slotName
        ? `${existingSlot ? 'reuse' : 'create'} replication slot ${slotName} on the leader`
        : 'use no replication slot',
      `write standby settings (primary_conninfo, ${slotName ? 'primary_slot_name, ' : ''}${options.restoreCommand ? 'restore_command, ' : ''}port ${config.node.port}) and standby.signal`,
      options.start === false ? 'leave the server stopped' : 'start the server and wait until it streams',
    ]
      .filter(Boolean)
      .map((l) => `  - ${l}`)
      .join('\n');
    if (options.confirm && !(await options.confirm(`bootstrap will:\n${plan}`))) {
      throw new PgFollowerError('CANCELLED', 'bootstrap cancelled; nothing was changed', ExitCode.REFUSED);
    }

    const movedAside = await clearTarget(ctx, tools, dataDirectory, directoryState);

    if (slotName && existingSlot && !existingSlot.active && existingSlot.walStatus === 'lost') {
      // A lost slot no longer reserves anything; a fresh one from our reservation replaces it.
      await dropSlot(sql, slotName);
      reporter.done(`dropped slot ${slotName}: it was lost (wal_status lost) and will be created again`);
      existingSlot = undefined;
    }
    if (slotName) {
      reporter.step(`reserving WAL on the leader (temporary slot) so nothing the copy needs is recycled`);
      reservation = await reserveWal(replication);
      replication = undefined; // owned by the reservation now
    }

    const direct = existsSync(dataDirectory);
    staging = direct
      ? dataDirectory
      : join(
          dirname(dataDirectory),
          `${basename(dataDirectory)}.incomplete-${compactTimestamp(ctx.clock.now())}`,
        );
    reporter.step(`copying the leader with pg_basebackup into ${staging}`);
    let copiedBytes = 0;
    await runBaseBackup(ctx, {
      conninfo: leaderConninfo,
      targetDirectory: staging,
      expectedBytes: leader.databaseBytes,
      bin,
      extraArgs: [
        ...(options.maxRate ? [`--max-rate=${options.maxRate}`] : []),
        ...(options.basebackupArgs ?? []),
      ],
      onProgress: (done, total) => {
        copiedBytes = done;
        reporter.progress(done, total, 'base backup');
      },
    });
    reporter.progressEnd();
    reporter.done(`copied ${formatBytes(copiedBytes)}`);

    await writeFollowerConfig(ctx, staging, leaderConninfo, {
      restoreCommand: options.restoreCommand,
      extra: options.extraSettings,
    });
    if (!direct) await rename(staging, dataDirectory);
    placed = true;
    staging = undefined;
    reporter.done(`standby configured in ${dataDirectory}`);

    if (slotName && reservation) {
      if (!existingSlot) {
        await reservation.persist(sql, slotName);
        slotCreated = true;
        reporter.done(`created replication slot ${slotName} on the leader`);
      }
      await reservation.release();
      reservation = undefined;
    }

    let streaming: StreamingInfo | undefined;
    if (options.start !== false) {
      reporter.step(`starting the follower on port ${config.node.port}`);
      await startServer(tools, dataDirectory, { timeoutS: 300 });
      streaming = await waitForStreaming(ctx, { timeoutMs: options.streamTimeoutMs ?? 120_000 });
      reporter.done(
        `streaming from the leader on timeline ${streaming.timeline}, replayed up to ${streaming.replayLsn}`,
      );
    }
    logger.info({ dataDirectory, slotName, durationMs: ctx.clock.now() - started }, 'bootstrap finished');
    return {
      dataDirectory,
      slotName,
      slotCreated,
      movedAside,
      copiedBytes,
      durationMs: ctx.clock.now() - started,
      streaming,
      checks,
      leader,
    };
  } catch (error) {
    reporter.progressEnd();
    // A follower that streams is never discarded, whatever went wrong around it (pgfollower
    // cannot log in to it locally, a stop signal during the wait): the leader vouches for it.
    if (placed && (await leaderSeesStreaming(sql, slotName, nodeName))) {
      reporter.warn(
        `the new follower in ${dataDirectory} streams from the leader: it is kept running${slotName ? `, and slot ${slotName} with it` : ''}`,
      );
      if (error instanceof PgFollowerError && !(error instanceof StoppedError))
        throw new PgFollowerError(
          error.code,
          `${error.message}\nthe follower itself streams and is kept: ${dataDirectory}`,
          error.exitCode,
          {
            cause: error,
            hint: `${error.hint ?? 'fix the cause above'}; then check it with pgfollower status (no need to bootstrap again)`,
          },
        );
      throw error;
    }
    await cleanUpFailure(ctx, {
      sql,
      dataDirectory,
      staging,
      placed,
      slotName: slotCreated ? slotName : undefined,
    });
    throw error;
  } finally {
    await reservation?.release();
    await replication?.end().catch(() => undefined);
    await sql.end().catch(() => undefined);
  }
}

async function cleanUpFailure(
  ctx: Context,
  state: {
    sql: PgClient;
    dataDirectory: string;
    staging: string | undefined;
    placed: boolean;
    slotName: string | undefined;
  },
): Promise<void> {
  const tools: PgTools = { exec: ctx.exec, bin: ctx.bin };
  try {
    if (state.staging && state.staging !== state.dataDirectory && existsSync(state.staging)) {
      await removeAside(state.staging, { configured: state.dataDirectory });
      ctx.reporter.warn(`removed the incomplete copy ${state.staging}`);
    } else if (state.staging === state.dataDirectory && existsSync(state.dataDirectory)) {
      const failed = await moveAside(tools, state.dataDirectory, {
        configured: state.dataDirectory,
        kind: 'incomplete',
        clock: ctx.clock,
      });
      await removeAside(failed, { configured: state.dataDirectory });
    }
    if (state.placed) {
      if ((await serverStatus(tools, state.dataDirectory)) === 'running')
        await stopServer(tools, state.dataDirectory, { mode: 'fast' });
      const aside = await moveAside(tools, state.dataDirectory, {
        configured: state.dataDirectory,
        kind: 'failed',
        clock: ctx.clock,
      });
      ctx.reporter.warn(`moved the new but unverified copy to ${aside} for inspection`);
    }
  } catch (cleanupError) {
    ctx.logger.error(
      { err: cleanupError },
      'cleaning up after the failed bootstrap failed; inspect the directories named above',
    );
  }
  if (state.slotName) {
    try {
      if (await dropSlot(state.sql, state.slotName))
        ctx.reporter.warn(`dropped replication slot ${state.slotName} that this run created`);
    } catch {
      ctx.reporter.warn(
        `could not drop replication slot ${state.slotName} on the leader: run SELECT pg_drop_replication_slot('${state.slotName}') there`,
      );
    }
  }
}
