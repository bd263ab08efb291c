import { setTimeout as sleep } from 'node:timers/promises';
import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { connect, localConninfo, type PgClient } from '../postgres/client.js';
import { parseLsn } from '../postgres/lsn.js';
import { listBackups } from './list.js';
import { readSupervisorStatus } from '../daemon/status-client.js';
import type { StatusDocument } from '../monitor/status.js';
import { measurementsFileFor, rateOf, readMeasurements, type Measurement } from './measurements.js';

/**
 * `pgfollower estimate`: restore-time maths from measured figures (docs/estimates.md has the
 * formulas). Every input says where it came from: a flag, a measurement on this host, a live
 * reading of the servers, the newest backup, or a stated fallback.
 */
export type Source = 'flag' | 'measured' | 'supervisor' | 'live' | 'backup' | 'fallback' | 'unknown';

export interface Input {
  value: number | null;
  source: Source;
  /** Where exactly, when the source alone does not say (which measurement, when, over what). */
  detail?: string;
}

export interface EstimateInputs {
  databaseBytes: Input;
  /** Tar bytes of the newest complete backup. */
  backupBytes: Input;
  /** WAL from the newest backup's start to the leader's (or this node's) current position. */
  walSinceBackupBytes: Input;
  cloneBytesPerSecond: Input;
  restoreBytesPerSecond: Input;
  replayBytesPerSecond: Input;
  /** The leader's WAL generation rate. */
  walBytesPerSecond: Input;
  /** WAL the leader still keeps for this follower: slot safe_wal_size, else wal_keep_size. */
  retainedBytes: Input;
  rpoBytes: Input;
}

export interface Estimate {
  rebuildFromLeaderSeconds: number | null;
  restoreFromArchiveSeconds: number | null;
  maxSurvivableOutageSeconds: number | null;
  catchUpSecondsAfterOutage: number | null;
  recommendedBackupIntervalSeconds: number | null;
  rpoBytes: number | null;
  outageSeconds: number | undefined;
  targetRestoreSeconds: number | undefined;
  inputs: EstimateInputs;
  notes: string[];
}

/** Pure: the formulas of docs/estimates.md. null when an input is missing or no answer exists. */
export function computeEstimate(
  inputs: EstimateInputs,
  options: { outageSeconds?: number | undefined; targetRestoreSeconds?: number | undefined } = {},
): Estimate {
  const v = (i: Input): number | null => (i.value !== null && Number.isFinite(i.value) ? i.value : null);
  const notes: string[] = [];
  const db = v(inputs.databaseBytes);
  const clone = v(inputs.cloneBytesPerSecond);
  const backupBytes = v(inputs.backupBytes);
  const restore = v(inputs.restoreBytesPerSecond);
  const walSince = v(inputs.walSinceBackupBytes);
  const replay = v(inputs.replayBytesPerSecond);
  const walRate = v(inputs.walBytesPerSecond);
  const retained = v(inputs.retainedBytes);

  const rebuildFromLeaderSeconds = db !== null && clone ? db / clone : null;
  const filesSeconds = backupBytes !== null && restore ? backupBytes / restore : null;
  const restoreFromArchiveSeconds =
    filesSeconds !== null && walSince !== null && replay ? filesSeconds + walSince / replay : null;
  if (backupBytes === null)
    notes.push('no complete backup in the archive: restoreFromArchiveSeconds is unknown');

  let maxSurvivableOutageSeconds: number | null = null;
  if (retained !== null && walRate !== null) {
    maxSurvivableOutageSeconds = walRate > 0 ? retained / walRate : null;
    if (walRate === 0) notes.push('the leader writes no WAL now: any outage is survivable at this rate');
  }

  let catchUpSecondsAfterOutage: number | null = null;
  if (options.outageSeconds !== undefined && walRate !== null && replay) {
    if (replay > walRate) catchUpSecondsAfterOutage = (walRate * options.outageSeconds) / (replay - walRate);
    else
      notes.push(
        'replay is not faster than the leader writes WAL: this follower never catches up at this rate',
      );
  }

  let recommendedBackupIntervalSeconds: number | null = null;
  if (options.targetRestoreSeconds !== undefined && filesSeconds !== null && replay && walRate !== null) {
    const budget = options.targetRestoreSeconds - filesSeconds;
    if (budget <= 0) {
      recommendedBackupIntervalSeconds = 0;
      notes.push(
        `restoring the backup files alone takes ${Math.round(filesSeconds)} s, more than the target: no backup interval meets it`,
      );
    } else recommendedBackupIntervalSeconds = walRate > 0 ? (budget * replay) / walRate : null;
  }
  return {
    rebuildFromLeaderSeconds: roundTenth(rebuildFromLeaderSeconds),
    restoreFromArchiveSeconds: roundTenth(restoreFromArchiveSeconds),
    maxSurvivableOutageSeconds: roundTenth(maxSurvivableOutageSeconds),
    catchUpSecondsAfterOutage: roundTenth(catchUpSecondsAfterOutage),
    recommendedBackupIntervalSeconds: roundTenth(recommendedBackupIntervalSeconds),
    rpoBytes: v(inputs.rpoBytes),
    outageSeconds: options.outageSeconds,
    targetRestoreSeconds: options.targetRestoreSeconds,
    inputs,
    notes,
  };
}

/** Seconds to one decimal, as estimates are printed. */
export function roundTenth(n: number | null): number | null {
  return n === null ? null : Math.round(n * 10) / 10;
}

interface EstimateOverrides {
  databaseBytes?: number | undefined;
  cloneBytesPerSecond?: number | undefined;
  restoreBytesPerSecond?: number | undefined;
  replayBytesPerSecond?: number | undefined;
  walBytesPerSecond?: number | undefined;
  /** How long to sample the leader's WAL position when no backup gives a long-run rate. */
  sampleMs?: number;
  /**
   * The running supervisor's status (its catch-up rates), when the caller already has it; null =
   * no supervisor; undefined = ask it over http.listen.
   */
  supervisor?: Pick<StatusDocument, 'state' | 'catchUp' | 'source'> | null;
}

/**
 * The replay rate p (docs/estimates.md): a flag wins; then the running supervisor's rate when it
 * measured replay itself (during archive catch-up, or limited by replay: replay ran as fast as it
 * could) over its window, newer than any stored measurement; then the last stored measurement of
 * a restore; then the supervisor's rate limited by the network or the fetch (replay was waiting
 * for WAL, so the rate is only a lower bound: said so in the detail); else unknown.
 */
export function chooseReplayRate(
  flag: number | undefined,
  supervisor: Pick<StatusDocument, 'state' | 'catchUp'> | null | undefined,
  stored: Measurement | undefined,
): Input {
  if (flag !== undefined) return { value: flag, source: 'flag' };
  const c = supervisor?.catchUp;
  const measured = c && c.replayBytesPerSecond > 0 ? c : undefined;
  const window = measured ? `over ${Math.round(measured.windowSeconds)} s` : '';
  const replayBound =
    measured !== undefined &&
    (measured.limitedBy === 'replay' ||
      (supervisor?.state === 'archive-recovery' && measured.limitedBy !== 'fetch'));
  if (measured && replayBound)
    return {
      value: measured.replayBytesPerSecond,
      source: 'supervisor',
      detail: `measured by the running supervisor ${window} during ${supervisor?.state}${measured.limitedBy ? `, limited by ${measured.limitedBy}` : ''}`,
    };
  const storedRate = rateOf(stored);
  if (stored && storedRate !== undefined)
    return { value: storedRate, source: 'measured', detail: `replay after the restore of ${stored.at}` };
  if (measured)
    return {
      value: measured.replayBytesPerSecond,
      source: 'supervisor',
      detail: `measured by the running supervisor ${window} during ${supervisor?.state}, limited by ${measured.limitedBy ?? 'unknown'}: a lower bound (replay waited for WAL)`,
    };
  return { value: null, source: 'unknown' };
}

/** Reads the servers, the archive and this host's measurements; flags win. */
export async function gatherEstimateInputs(
  ctx: Context,
  store: ArchiveStore | undefined,
  overrides: EstimateOverrides = {},
): Promise<EstimateInputs> {
  const { config } = ctx;
  const measurements = await readMeasurements(measurementsFileFor(config));
  const unknown: Input = { value: null, source: 'unknown' };
  const flag = (value: number | undefined): Input | undefined =>
    value === undefined ? undefined : { value, source: 'flag' };

  const supervisor =
    overrides.supervisor === undefined ? await readSupervisorStatus(ctx) : overrides.supervisor;
  const backups = store ? await listBackups(store, ctx.signal).catch(() => []) : [];
  const newest = backups.filter((b) => b.descriptor).at(-1)?.descriptor;
  const leader = config.leader.conninfo
    ? await connect(config.leader.conninfo, {
        connectTimeoutMs: config.leader.connectTimeoutMs,
        queryTimeoutMs: 5000,
        signal: ctx.signal,
      }).catch(() => undefined)
    : undefined;
  const local = config.node.dataDirectory
    ? await connect(localConninfo(config.node), {
        connectTimeoutMs: 3000,
        queryTimeoutMs: 5000,
        signal: ctx.signal,
      }).catch(() => undefined)
    : undefined;
  try {
    const leaderFacts = leader
      ? await readLeader(leader, config.slot.enabled ? config.slot.name : undefined)
      : undefined;
    const localFacts = local ? await readLocal(local) : undefined;
    const current = leaderFacts?.lsn ?? localFacts?.receiveLsn ?? localFacts?.replayLsn;

    let walRate: Input = unknown;
    if (newest && leaderFacts) {
      const seconds = (ctx.clock.now() - Date.parse(newest.finishedAt)) / 1000;
      if (seconds > 60)
        walRate = { value: Number(leaderFacts.lsn - parseLsn(newest.endLsn)) / seconds, source: 'backup' };
    }
    const supervised = supervisor?.catchUp;
    if (walRate.value === null && supervised && overrides.walBytesPerSecond === undefined)
      walRate = {
        value: supervised.leaderBytesPerSecond,
        source: 'supervisor',
        detail: `the leader's WAL rate the running supervisor measured over ${Math.round(supervised.windowSeconds)} s`,
      };
    if (walRate.value === null && leader && overrides.walBytesPerSecond === undefined) {
      const sampleMs = overrides.sampleMs ?? 2000;
      const before = await readLeader(leader, undefined);
      await sleep(sampleMs, undefined, { signal: ctx.signal });
      const after = await readLeader(leader, undefined);
      walRate = { value: (Number(after.lsn - before.lsn) * 1000) / sampleMs, source: 'live' };
    }

    const cloneMeasured = rateOf(measurements.clone);
    const restoreMeasured = rateOf(measurements.restore);
    const backupCopyRate = newest && newest.copyMs > 0 ? (newest.rawBytes * 1000) / newest.copyMs : undefined;
    const dbBytes = leaderFacts?.databaseBytes ?? localFacts?.databaseBytes;

    let rpo: Input = unknown;
    if (leaderFacts) {
      const safe = [leaderFacts.archivedLsn, localFacts?.receiveLsn].filter(
        (l): l is bigint => l !== undefined && l !== null,
      );
      const best = safe.length > 0 ? safe.reduce((a, b) => (a > b ? a : b)) : undefined;
      rpo = {
        value: best === undefined ? null : Math.max(0, Number(leaderFacts.lsn - best)),
        source: 'live',
      };
    }
    return {
      databaseBytes:
        flag(overrides.databaseBytes) ??
        (dbBytes !== undefined ? { value: dbBytes, source: 'live' } : unknown),
      backupBytes: newest ? { value: newest.rawBytes, source: 'backup' } : unknown,
      walSinceBackupBytes:
        newest && current !== undefined && current !== null
          ? { value: Math.max(0, Number(current - parseLsn(newest.startLsn))), source: 'live' }
          : unknown,
      cloneBytesPerSecond:
        flag(overrides.cloneBytesPerSecond) ??
        (cloneMeasured !== undefined
          ? { value: cloneMeasured, source: 'measured' }
          : backupCopyRate !== undefined
            ? { value: backupCopyRate, source: 'backup' }
            : unknown),
      restoreBytesPerSecond:
        flag(overrides.restoreBytesPerSecond) ??
        (restoreMeasured !== undefined
          ? { value: restoreMeasured, source: 'measured' }
          : backupCopyRate !== undefined
            ? { value: backupCopyRate, source: 'backup' }
            : unknown),
      replayBytesPerSecond: chooseReplayRate(overrides.replayBytesPerSecond, supervisor, measurements.replay),
      walBytesPerSecond: flag(overrides.walBytesPerSecond) ?? walRate,
      retainedBytes:
        leaderFacts?.retainedBytes !== undefined
          ? { value: leaderFacts.retainedBytes, source: 'live' }
          : unknown,
      rpoBytes: rpo,
    };
  } finally {
    await leader?.end().catch(() => undefined);
    await local?.end().catch(() => undefined);
  }
}

interface LeaderFacts {
  lsn: bigint;
  databaseBytes: number;
  archivedLsn: bigint | undefined;
  /** Slot safe_wal_size (null = unlimited, taken as undefined), else wal_keep_size. */
  retainedBytes: number | undefined;
}

async function readLeader(client: PgClient, slotName: string | undefined): Promise<LeaderFacts> {
  const { rows } = await client.query<{
    lsn: string;
    size: string;
    archived: string | null;
    seg: string;
    safe: string | null;
    keep: string;
    has_slot: boolean;
  }>(
    `SELECT pg_current_wal_lsn()::text AS lsn,
            (SELECT sum(pg_database_size(oid))::text FROM pg_database) AS size,
            (SELECT last_archived_wal FROM pg_stat_archiver) AS archived,
            (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
            (SELECT safe_wal_size::text FROM pg_replication_slots WHERE slot_name = $1) AS safe,
            (SELECT (setting::bigint * 1024 * 1024)::text FROM pg_settings WHERE name = 'wal_keep_size') AS keep,
            EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS has_slot`,
    [slotName ?? ''],
  );
  const row = rows[0];
  if (!row) throw new Error('no row from the leader');
  const seg = BigInt(row.seg);
  let archivedLsn: bigint | undefined;
  if (row.archived && /^[0-9A-F]{24}$/.test(row.archived)) {
    // End of the last archived segment.
    const log = BigInt(`0x${row.archived.slice(8, 16)}`);
    const segInLog = BigInt(`0x${row.archived.slice(16, 24)}`);
    archivedLsn = (log * (0x100000000n / seg) + segInLog + 1n) * seg;
  }
  const retainedBytes = row.has_slot ? (row.safe === null ? undefined : Number(row.safe)) : Number(row.keep);
  return { lsn: parseLsn(row.lsn), databaseBytes: Number(row.size), archivedLsn, retainedBytes };
}

async function readLocal(
  client: PgClient,
): Promise<{ receiveLsn: bigint | null; replayLsn: bigint | null; databaseBytes: number }> {
  const { rows } = await client.query<{ recv: string | null; replay: string | null; size: string }>(
    `SELECT pg_last_wal_receive_lsn()::text AS recv, pg_last_wal_replay_lsn()::text AS replay,
            (SELECT sum(pg_database_size(oid))::text FROM pg_database) AS size`,
  );
  const row = rows[0];
  return {
    receiveLsn: row?.recv ? parseLsn(row.recv) : null,
    replayLsn: row?.replay ? parseLsn(row.replay) : null,
    databaseBytes: Number(row?.size ?? 0),
  };
}
