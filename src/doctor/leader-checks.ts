import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { findPgBinaries, type PgProgram } from '../postgres/binaries.js';
import { connect, type PgClient } from '../postgres/client.js';
import { readSlot } from '../postgres/slots.js';
import { messageOf, skipped, type DoctorCheck } from './types.js';

/** Checks against the leader: programs of its major, a replication connection, this node's slot. */
const requiredPrograms: PgProgram[] = ['postgres', 'pg_ctl', 'pg_basebackup', 'pg_rewind', 'pg_controldata'];

export async function checkPrograms(
  config: Readonly<Config>,
  leaderMajor: number | undefined,
): Promise<DoctorCheck> {
  try {
    const bin = await findPgBinaries({ binDir: config.node.binDir, major: leaderMajor });
    const missing = requiredPrograms.filter((p) => !existsSync(bin.path(p)));
    if (missing.length > 0)
      return {
        name: 'programs',
        status: 'fail',
        detail: `${bin.binDir} lacks ${missing.join(', ')}`,
        fix: `install the PostgreSQL ${bin.major} server package (apt-get install postgresql-${bin.major}) or set node.binDir`,
      };
    const localMajor = readDataDirectoryMajor(config.node.dataDirectory);
    if (leaderMajor !== undefined && bin.major !== leaderMajor)
      return {
        name: 'programs',
        status: 'fail',
        detail: `PostgreSQL ${bin.major} programs in ${bin.binDir}, but the leader runs ${leaderMajor}`,
        fix: `install postgresql-${leaderMajor} (its programs go to /usr/lib/postgresql/${leaderMajor}/bin) or set node.binDir to them`,
      };
    if (localMajor !== undefined && localMajor !== bin.major)
      return {
        name: 'programs',
        status: 'fail',
        detail: `the data directory is PostgreSQL ${localMajor}, the programs in ${bin.binDir} are ${bin.major}`,
        fix: 'set node.binDir to the programs of the data directory’s major version',
      };
    return {
      name: 'programs',
      status: 'ok',
      detail: `PostgreSQL ${bin.major} programs in ${bin.binDir}${leaderMajor === undefined ? ' (leader major unknown)' : ', same major as the leader'}`,
    };
  } catch (error) {
    return {
      name: 'programs',
      status: 'fail',
      detail: messageOf(error),
      fix: 'install the PostgreSQL server package of the leader’s major version, or set node.binDir',
    };
  }
}

function readDataDirectoryMajor(dataDirectory: string | undefined): number | undefined {
  if (!dataDirectory) return undefined;
  try {
    const major = Number.parseInt(readFileSync(join(dataDirectory, 'PG_VERSION'), 'utf8').trim(), 10);
    return Number.isFinite(major) ? major : undefined;
  } catch {
    return undefined;
  }
}

export async function checkReplicationConnection(
  conninfo: string,
  connectTimeoutMs: number,
  signal?: AbortSignal,
): Promise<DoctorCheck> {
  let replication: PgClient | undefined;
  try {
    // A physical walsender: the kind pg_basebackup and the standby open, matched by pg_hba.conf's
    // `replication` keyword.
    replication = await connect(conninfo, { replication: 'physical', connectTimeoutMs, signal });
    const { rows } = await replication.query<{ systemid: string; timeline: number }>('IDENTIFY_SYSTEM');
    const row = rows[0];
    return {
      name: 'leader-replication',
      status: 'ok',
      detail: `replication connection accepted: system ${row?.systemid ?? '?'}, timeline ${row?.timeline ?? '?'}`,
    };
  } catch (error) {
    return {
      name: 'leader-replication',
      status: 'fail',
      detail: messageOf(error),
      fix: 'on the leader: a `host replication <user> <this host>/32 scram-sha-256` line in pg_hba.conf (then reload) and ALTER ROLE <user> REPLICATION',
    };
  } finally {
    await replication?.end().catch(() => undefined);
  }
}

export async function checkSlot(config: Readonly<Config>, leader: PgClient): Promise<DoctorCheck> {
  if (!config.slot.enabled || !config.slot.name)
    return skipped('slot', 'slot.enabled is false: the leader keeps no WAL for this follower');
  const name = config.slot.name;
  try {
    const slot = await readSlot(leader, name);
    const limit = (await leader.query<{ v: string }>("select current_setting('max_slot_wal_keep_size') as v"))
      .rows[0]?.v;
    if (!slot)
      return {
        name: 'slot',
        status: 'fail',
        detail: `slot ${name} is missing on the leader`,
        fix: `pgfollower bootstrap creates it; on a running follower: select pg_create_physical_replication_slot('${name}') on the leader`,
      };
    if (slot.walStatus === 'lost')
      return {
        name: 'slot',
        status: 'fail',
        detail: `slot ${name} was invalidated (wal_status lost): the leader no longer keeps WAL for it`,
        fix: 'pgfollower run recreates it and catches up from the archive; without an archive: pgfollower rebuild',
      };
    if (limit === undefined || limit === '-1')
      return {
        name: 'slot',
        status: 'fail',
        detail: `slot ${name} is present (${slot.active ? 'active' : 'inactive'}), but the leader has no max_slot_wal_keep_size: a stale slot can fill its disk`,
        fix: "on the leader: ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; select pg_reload_conf() (size it to the disk)",
      };
    return {
      name: 'slot',
      status: 'ok',
      detail: `slot ${name} present (${slot.active ? 'active' : 'inactive'}, wal_status ${slot.walStatus ?? '?'}), max_slot_wal_keep_size ${limit}`,
    };
  } catch (error) {
    return {
      name: 'slot',
      status: 'fail',
      detail: messageOf(error),
      fix: 'grant pg_monitor to the leader role',
    };
  }
}
