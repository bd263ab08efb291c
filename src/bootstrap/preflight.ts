import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { CheckResult } from '../errors.js';
import { formatBytes } from '../config/units.js';
import type { PgClient } from '../postgres/client.js';
import type { DirectoryState } from '../postgres/data-directory.js';
import type { SlotInfo } from '../postgres/slots.js';

export interface LeaderFacts {
  systemId: string;
  timeline: number;
  xlogpos: string;
  serverVersionNum: number;
  walLevel: string;
  maxWalSenders: number;
  usedWalSenders: number;
  maxReplicationSlots: number;
  usedReplicationSlots: number;
  databaseBytes: number;
  inRecovery: boolean;
  walSegmentSize: number;
}

/** Reads what the pre-flight needs from the leader: one replication and one SQL connection. */
export async function readLeaderFacts(sql: PgClient, replication: PgClient): Promise<LeaderFacts> {
  const identify = (
    await replication.query<{ systemid: string; timeline: number; xlogpos: string }>('IDENTIFY_SYSTEM')
  ).rows[0];
  const { rows } = await sql.query<{
    version_num: string;
    wal_level: string;
    max_wal_senders: string;
    used_senders: string;
    max_slots: string;
    used_slots: string;
    db_bytes: string;
    in_recovery: boolean;
    wal_segment_size: string;
  }>(`SELECT current_setting('server_version_num') AS version_num,
            current_setting('wal_level') AS wal_level,
            current_setting('max_wal_senders') AS max_wal_senders,
            (SELECT count(*) FROM pg_stat_replication) AS used_senders,
            current_setting('max_replication_slots') AS max_slots,
            (SELECT count(*) FROM pg_replication_slots) AS used_slots,
            (SELECT sum(pg_database_size(oid)) FROM pg_database) AS db_bytes,
            pg_is_in_recovery() AS in_recovery,
            pg_size_bytes(current_setting('wal_segment_size')) AS wal_segment_size`);
  const row = rows[0];
  if (!identify || !row) throw new Error('leader returned no rows for IDENTIFY_SYSTEM or settings');
  return {
    systemId: String(identify.systemid),
    timeline: Number(identify.timeline),
    xlogpos: String(identify.xlogpos),
    serverVersionNum: Number(row.version_num),
    walLevel: row.wal_level,
    maxWalSenders: Number(row.max_wal_senders),
    usedWalSenders: Number(row.used_senders),
    maxReplicationSlots: Number(row.max_slots),
    usedReplicationSlots: Number(row.used_slots),
    databaseBytes: Number(row.db_bytes),
    inRecovery: row.in_recovery,
    walSegmentSize: Number(row.wal_segment_size),
  };
}

export interface PreflightInput {
  leader: LeaderFacts;
  localMajor: number;
  dataDirectory: string;
  directoryState: DirectoryState;
  force: boolean;
  slotName: string | undefined;
  existingSlot: SlotInfo | undefined;
  freeBytes: number | undefined;
  diskMargin: number;
}

/**
 * The bootstrap pre-flight as data: each check has a name, a verdict and its numbers. Pure, so the
 * rules are unit-tested without a database.
 */
export function evaluatePreflight(input: PreflightInput): CheckResult[] {
  const { leader } = input;
  const checks: CheckResult[] = [];
  const leaderMajor = Math.floor(leader.serverVersionNum / 10000);
  checks.push({
    name: 'leader reachable',
    ok: true,
    detail: `replication connection works, system ${leader.systemId}, timeline ${leader.timeline}`,
    numbers: { timeline: leader.timeline, lsn: leader.xlogpos },
  });
  checks.push({
    name: 'wal_level',
    ok: leader.walLevel === 'replica' || leader.walLevel === 'logical',
    detail:
      leader.walLevel === 'minimal'
        ? 'wal_level is minimal: set wal_level = replica on the leader and restart it'
        : `wal_level is ${leader.walLevel}`,
  });
  // pg_basebackup -X stream uses two walsenders: one for the files, one for WAL.
  const freeSenders = leader.maxWalSenders - leader.usedWalSenders;
  checks.push({
    name: 'free WAL senders',
    ok: freeSenders >= 2,
    detail:
      freeSenders >= 2
        ? `${freeSenders} free`
        : `pg_basebackup -X stream needs 2 free; raise max_wal_senders on the leader`,
    numbers: { max_wal_senders: leader.maxWalSenders, in_use: leader.usedWalSenders },
  });
  if (input.slotName) {
    const slotsNeeded = input.existingSlot ? 1 : 2; // the temporary reservation plus the new slot
    const freeSlots = leader.maxReplicationSlots - leader.usedReplicationSlots;
    checks.push({
      name: 'free replication slots',
      ok: freeSlots >= slotsNeeded,
      detail:
        freeSlots >= slotsNeeded
          ? `${freeSlots} free`
          : `need ${slotsNeeded}; raise max_replication_slots on the leader or drop unused slots`,
      numbers: { max_replication_slots: leader.maxReplicationSlots, in_use: leader.usedReplicationSlots },
    });
    checks.push({
      name: `slot ${input.slotName}`,
      ok: !input.existingSlot?.active,
      detail: input.existingSlot
        ? input.existingSlot.active
          ? `slot ${input.slotName} exists and is in use by another server: is this node already streaming, or do two nodes share a name?`
          : `slot ${input.slotName} exists and is inactive: it will be reused (restart_lsn ${input.existingSlot.restartLsn ?? 'unset'})`
        : `slot ${input.slotName} will be created`,
    });
  }
  checks.push({
    name: 'leader is a primary',
    ok: true,
    detail: leader.inRecovery
      ? 'the leader is itself a standby: this follower will cascade from it'
      : 'leader accepts writes',
  });
  checks.push({
    name: 'versions match',
    ok: leaderMajor === input.localMajor,
    detail:
      leaderMajor === input.localMajor
        ? `PostgreSQL ${leaderMajor} on both`
        : `leader runs PostgreSQL ${leaderMajor}, local programs are ${input.localMajor}: install postgresql-${leaderMajor} or set node.binDir`,
    numbers: { leader: leaderMajor, local: input.localMajor },
  });
  const dirOk = input.directoryState === 'absent' || input.directoryState === 'empty' || input.force;
  checks.push({
    name: 'data directory',
    ok: dirOk,
    forceable: !dirOk,
    detail:
      input.directoryState === 'absent' || input.directoryState === 'empty'
        ? `${input.dataDirectory} is ${input.directoryState}`
        : input.force
          ? `${input.dataDirectory} is not empty: --force moves it aside (never deletes it)`
          : `${input.dataDirectory} is not empty (${input.directoryState === 'data-directory' ? 'it holds a PostgreSQL data directory' : 'it holds other files'}); pass --force to move it aside`,
  });
  const needed = Math.ceil(leader.databaseBytes * (1 + input.diskMargin));
  checks.push({
    name: 'free disk',
    ok: input.freeBytes === undefined || input.freeBytes >= needed,
    detail:
      input.freeBytes === undefined
        ? 'could not measure free space'
        : input.freeBytes >= needed
          ? `${formatBytes(input.freeBytes)} free, ${formatBytes(needed)} needed`
          : `${formatBytes(input.freeBytes)} free but the leader holds ${formatBytes(leader.databaseBytes)} (+${Math.round(input.diskMargin * 100)}% margin): free space or choose another node.dataDirectory`,
    numbers: {
      free_bytes: input.freeBytes ?? null,
      needed_bytes: needed,
      leader_bytes: leader.databaseBytes,
    },
  });
  return checks;
}

/** Free bytes on the filesystem that will hold `path` (its nearest existing ancestor). */
export async function measureFreeBytes(path: string): Promise<number | undefined> {
  let dir = resolve(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const stats = await statfs(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}
