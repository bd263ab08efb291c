import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { ArchiveStore } from '../archive/store/store.js';
import { chooseBackup } from '../backup/list.js';
import { restoreBackupFiles } from '../backup/restore.js';
import {
  checkTablespaceTargets,
  removeRestoredTablespaces,
  tablespaceTargets,
  type TablespaceMapping,
} from '../backup/tablespaces.js';
import type { BackupDescriptor } from '../backup/layout.js';
import { requireSetting } from '../config/required.js';
import { formatBytes } from '../config/units.js';
import type { Context } from '../context.js';
import { ExitCode, PgFollowerError, RefusedError, type CheckResult } from '../errors.js';
import { connect } from '../postgres/client.js';
import { maskConninfo } from '../postgres/conninfo.js';
import { serverStatus, startServer, stopServer, type PgTools } from '../postgres/cluster.js';
import { inspectDirectory, moveAside, removeAside, restoreAside } from '../postgres/data-directory.js';
import { parseLsn } from '../postgres/lsn.js';
import { createPhysicalSlot, readSlot } from '../postgres/slots.js';
import { compactTimestamp } from '../util/time.js';
import { writeFollowerConfig } from './follower-config.js';
import { clearTarget } from './target.js';
import { newestArchivedSegmentStart, waitForReplay } from './replay.js';
import { waitForStreaming, type StreamingInfo } from './wait.js';
import { isStandbyDirectory } from '../postgres/standby-config.js';

interface BootstrapFromArchiveOptions {
  /** Restore this backup (id) instead of the newest complete one. */
  backupId?: string | undefined;
  /** Move a non-empty data directory aside (kept) instead of refusing. */
  force?: boolean;
  /** Stop a local server running in that directory first (rebuild), instead of refusing. */
  stopRunning?: boolean;
  start?: boolean;
  /** restore_command; required: the backup's WAL comes from the archive. */
  restoreCommand: string | undefined;
  confirm?: (plan: string) => Promise<boolean>;
  extraSettings?: Record<string, string | number | boolean>;
  /** How long to wait for streaming (leader up) or for consistency (leader down). */
  timeoutMs?: number;
  /** --tablespace-mapping: tablespace location in the backup -> directory here. */
  tablespaceMapping?: TablespaceMapping;
}

export interface BootstrapFromArchiveResult {
  dataDirectory: string;
  backup: Pick<BackupDescriptor, 'id' | 'startLsn' | 'endLsn' | 'endTimeline' | 'rawBytes' | 'storedBytes'>;
  movedAside: string | undefined;
  restoreMs: number;
  /** Bytes per second of the file restore. */
  restoreBytesPerSecond: number;
  slotName: string | undefined;
  slot: 'created' | 'exists' | 'leader-unreachable' | 'disabled';
  leaderReachable: boolean;
  /** 'streaming' when the leader answered; 'archive-recovery' when replaying from the archive only. */
  state: 'streaming' | 'archive-recovery' | 'stopped';
  streaming: StreamingInfo | undefined;
  replayLsn: string | null;
  /** WAL replayed from the archive after start (backup start to replayLsn) and how long it took. */
  replay: { bytes: number; ms: number } | undefined;
  durationMs: number;
  checks: CheckResult[];
}

/**
 * `bootstrap --from-archive`: makes this host a follower from a base backup in the archive, with no
 * load on the leader and while the leader is down. Restores the newest (or named) complete backup
 * into a staging directory, writes standby settings with restore_command, renames it into place,
 * creates the slot when the leader answers (else slot repair does it later), starts, and waits
 * until the follower streams or, with the leader down, has replayed the backup's WAL from the
 * archive (state archive-recovery, it streams once the leader answers).
 */
export async function bootstrapFromArchive(
  ctx: Context,
  store: ArchiveStore,
  options: BootstrapFromArchiveOptions,
): Promise<BootstrapFromArchiveResult> {
  const started = ctx.clock.now();
  const { config, reporter } = ctx;
  const dataDirectory = resolve(requireSetting(config.node.dataDirectory, 'node.dataDirectory'));
  requireSetting(config.node.name, 'node.name');
  const leaderConninfo = requireSetting(config.leader.conninfo, 'leader.conninfo');
  const slotName = config.slot.enabled ? config.slot.name : undefined;
  const tools: PgTools = { exec: ctx.exec, bin: ctx.bin, signal: ctx.signal };

  reporter.step(`choosing a backup in ${store.description}`);
  const backup = await chooseBackup(store, options.backupId, ctx.signal);
  const tablespaces = tablespaceTargets(backup, options.tablespaceMapping ?? new Map());
  const directoryState = inspectDirectory(dataDirectory);
  const backupMajor = Math.floor(backup.pgVersionNum / 10000);
  const checks: CheckResult[] = [
    {
      name: 'restore_command',
      ok: options.restoreCommand !== undefined,
      detail: options.restoreCommand
        ? 'the backup WAL will be read from the archive'
        : 'no archive configured for restore_command',
    },
    {
      name: 'PostgreSQL major',
      ok: backupMajor === ctx.bin.major,
      detail: `backup from PostgreSQL ${backupMajor}, local programs ${ctx.bin.major}`,
      numbers: { backup: backupMajor, local: ctx.bin.major },
    },
    {
      name: 'data directory',
      ok: directoryState === 'absent' || directoryState === 'empty' || options.force === true,
      detail:
        directoryState === 'absent' || directoryState === 'empty'
          ? `${dataDirectory} is ${directoryState}`
          : `${dataDirectory} is not empty${options.force ? '; it will be moved aside (kept)' : ': pass --force to move it aside (kept, never deleted)'}`,
      forceable: true,
    },
    // A tablespace target must be absent or empty, --force or not: what is there may be another
    // cluster's (or the old data directory's) tablespace, which is never moved nor overwritten.
    ...checkTablespaceTargets(tablespaces, dataDirectory),
  ];
  const leader = await connect(leaderConninfo, {
    connectTimeoutMs: config.leader.connectTimeoutMs,
    signal: ctx.signal,
  }).catch((error: unknown) => {
    ctx.logger.info(
      { err: (error as Error).message },
      'the leader does not answer; restoring from the archive alone',
    );
    return undefined;
  });
  try {
    if (leader) {
      const { rows } = await leader.query<{ sysid: string }>(
        'SELECT system_identifier::text AS sysid FROM pg_control_system()',
      );
      const sysid = rows[0]?.sysid;
      checks.push({
        name: 'same cluster as the leader',
        ok: sysid === backup.systemIdentifier,
        detail: `backup system identifier ${backup.systemIdentifier}, leader ${sysid ?? 'unknown'}`,
      });
    } else {
      checks.push({
        name: 'leader',
        ok: true,
        detail: `unreachable at ${maskConninfo(leaderConninfo)}: the follower will replay from the archive and stream once it answers`,
      });
    }
    const running =
      directoryState === 'data-directory' && (await serverStatus(tools, dataDirectory)) === 'running';
    if (running && !options.stopRunning) {
      checks.push({
        name: 'local server stopped',
        ok: false,
        detail: `a server runs in ${dataDirectory}: stop it first (pg_ctl stop -D ${dataDirectory})`,
      });
    }
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new RefusedError(
        `bootstrap --from-archive refused: ${failed.map((c) => c.name).join(', ')}`,
        checks,
        {
          hint: 'fix the failed checks above and run again; nothing was changed',
        },
      );
    }
    for (const c of checks) reporter.done(`${c.name}: ${c.detail}`);
    const plan = [
      `restore backup ${backup.id} (${formatBytes(backup.rawBytes)}, ${backup.startLsn} .. ${backup.endLsn}) from ${store.description} into ${dataDirectory}`,
      running ? `stop the local server (pg_ctl stop -m fast)` : undefined,
      directoryState === 'data-directory' || directoryState === 'other'
        ? `first move the existing ${dataDirectory} aside (kept, not deleted)`
        : undefined,
      ...tablespaces.map(
        (t) => `restore tablespace ${t.tablespace.name} into ${t.target} (pg_tblspc/${t.tablespace.oid})`,
      ),
      'write standby settings (primary_conninfo, restore_command, slot) and standby.signal',
      slotName
        ? leader
          ? `create replication slot ${slotName} on the leader if absent`
          : `slot ${slotName}: created later by slot repair`
        : undefined,
      options.start === false
        ? 'leave the server stopped'
        : 'start the server; wait until it streams (or has replayed the backup from the archive)',
    ]
      .filter(Boolean)
      .map((l) => `  - ${l}`)
      .join('\n');
    if (options.confirm && !(await options.confirm(`bootstrap --from-archive will:\n${plan}`))) {
      throw new PgFollowerError('CANCELLED', 'bootstrap cancelled; nothing was changed', ExitCode.REFUSED);
    }

    if (running) {
      reporter.step('stopping the local server (pg_ctl stop -m fast) so it can be rebuilt');
      await stopServer(tools, dataDirectory, { mode: 'fast' });
    }
    const movedAside = await clearTarget(ctx, tools, dataDirectory, directoryState);
    const direct = existsSync(dataDirectory);
    const staging = direct
      ? dataDirectory
      : join(
          dirname(dataDirectory),
          `${basename(dataDirectory)}.incomplete-${compactTimestamp(ctx.clock.now())}`,
        );
    let placed = false;
    try {
      reporter.step(`restoring backup ${backup.id} into ${staging}`);
      const restored = await restoreBackupFiles(ctx, store, backup, {
        targetDirectory: staging,
        tablespaces,
      });
      reporter.done(
        `restored ${restored.files} files, ${formatBytes(restored.rawBytes)} in ${(restored.durationMs / 1000).toFixed(1)} s`,
      );
      await writeFollowerConfig(ctx, staging, leaderConninfo, {
        restoreCommand: options.restoreCommand,
        extra: options.extraSettings,
      });
      if (!direct) await rename(staging, dataDirectory);
      placed = true;

      let slot: BootstrapFromArchiveResult['slot'] = slotName ? 'leader-unreachable' : 'disabled';
      if (slotName && leader) {
        if (await readSlot(leader, slotName)) slot = 'exists';
        else {
          await createPhysicalSlot(leader, slotName);
          slot = 'created';
          reporter.done(`created replication slot ${slotName} on the leader`);
        }
      } else if (slotName) {
        reporter.warn(
          `the leader is down: slot ${slotName} is created by slot repair (pgfollower run) once it answers`,
        );
      }

      let state: BootstrapFromArchiveResult['state'] = 'stopped';
      let streaming: StreamingInfo | undefined;
      let replayLsn: string | null = null;
      let replay: BootstrapFromArchiveResult['replay'];
      if (options.start !== false) {
        const startedAt = ctx.clock.now();
        reporter.step(
          `starting the follower on port ${config.node.port}; it replays the backup's WAL from the archive`,
        );
        await startServer(tools, dataDirectory, {
          timeoutS: Math.ceil((options.timeoutMs ?? 600_000) / 1000),
        });
        if (leader) {
          streaming = await waitForStreaming(ctx, { timeoutMs: options.timeoutMs ?? 600_000 });
          replayLsn = streaming.replayLsn;
          state = 'streaming';
          reporter.done(`streaming from the leader on timeline ${streaming.timeline}`);
        } else {
          // With the leader down, replay what the archive holds now (the replay rate estimate needs).
          const archiveEnd = await newestArchivedSegmentStart(store, backup, ctx.signal);
          replayLsn = await waitForReplay(
            ctx,
            parseLsn(backup.endLsn),
            options.timeoutMs ?? 600_000,
            archiveEnd,
          );
          replay = {
            bytes: Number(parseLsn(replayLsn) - parseLsn(backup.startLsn)),
            ms: ctx.clock.now() - startedAt,
          };
          state = 'archive-recovery';
          reporter.done(
            `replayed the backup from the archive up to ${replayLsn}; waiting in archive-recovery, it streams once the leader answers`,
          );
        }
      }
      return {
        dataDirectory,
        backup: {
          id: backup.id,
          startLsn: backup.startLsn,
          endLsn: backup.endLsn,
          endTimeline: backup.endTimeline,
          rawBytes: backup.rawBytes,
          storedBytes: backup.storedBytes,
        },
        movedAside,
        restoreMs: restored.durationMs,
        restoreBytesPerSecond:
          restored.durationMs > 0 ? Math.round((restored.rawBytes * 1000) / restored.durationMs) : 0,
        slotName,
        slot,
        leaderReachable: leader !== undefined,
        state,
        streaming,
        replayLsn,
        replay,
        durationMs: ctx.clock.now() - started,
        checks,
      };
    } catch (error) {
      reporter.progressEnd();
      if (!placed) await removeRestoredTablespaces(tablespaces).catch(() => undefined);
      if (!placed && staging !== dataDirectory && existsSync(staging)) {
        await removeAside(staging, { configured: dataDirectory }).catch(() => undefined);
      } else if (placed || staging === dataDirectory) {
        if ((await serverStatus(tools, dataDirectory)) === 'running')
          await stopServer(tools, dataDirectory, { mode: 'fast' });
        const aside = await moveAside(tools, dataDirectory, {
          configured: dataDirectory,
          kind: 'failed',
          clock: ctx.clock,
        });
        reporter.warn(`moved the new but unverified copy to ${aside} for inspection`);
      }
      // A follower's old directory goes back (the node is as before); an old leader's stays aside:
      // started as is, it would be a second primary.
      if (movedAside && isStandbyDirectory(movedAside) && !existsSync(dataDirectory)) {
        await restoreAside(tools, movedAside, { configured: dataDirectory });
        reporter.warn(`moved the previous (follower) directory back to ${dataDirectory}`);
      }
      throw error;
    }
  } finally {
    await leader?.end().catch(() => undefined);
  }
}
