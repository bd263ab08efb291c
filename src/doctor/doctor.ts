import { constants, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { candidateKeys, parseWalFile } from '../archive/store/layout.js';
import { openArchiveStore } from '../archive/store/open-store.js';
import { restoreCommandFor } from '../archive/follower/restore-command.js';
import type { Config } from '../config/schema.js';
import type { Context } from '../context.js';
import { selfCommand } from '../exec/self.js';
import { findPgBinaries, type PgProgram } from '../postgres/binaries.js';
import { connect, localConninfo, type PgClient } from '../postgres/client.js';
import { describeConninfo } from '../postgres/conninfo.js';
import { readSlot } from '../postgres/slots.js';
import { readAutoConf } from '../postgres/standby-config.js';

/**
 * `pgfollower doctor`: checks this host and says what to fix, one finding per line. A check is
 * `ok`, `fail` (with a fix), or `skip` (does not apply here, or a check it depends on failed and
 * said so). The command exits 0 only when nothing failed.
 */
export type DoctorStatus = 'ok' | 'fail' | 'skip';

export interface DoctorCheck {
  name: string;
  status: DoctorStatus;
  detail: string;
  /** What to do, for a failed check. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  configFile: string | null;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** The systemd unit to check; default: the installed pgfollower.service, if any. */
  unitFile?: string | undefined;
  /** Largest clock difference between leader and this host that passes. */
  maxClockSkewMs?: number;
}

/** Where systemd looks for units, most specific first. */
export const unitSearchPath = [
  '/etc/systemd/system/pgfollower.service',
  '/run/systemd/system/pgfollower.service',
  '/usr/local/lib/systemd/system/pgfollower.service',
  '/usr/lib/systemd/system/pgfollower.service',
  '/lib/systemd/system/pgfollower.service',
];

const requiredPrograms: PgProgram[] = ['postgres', 'pg_ctl', 'pg_basebackup', 'pg_rewind', 'pg_controldata'];

/** A config that failed to load: the one finding doctor can make without it. */
export function configFailure(configFile: string | undefined, message: string): DoctorReport {
  return {
    ok: false,
    configFile: configFile ?? null,
    checks: [
      {
        name: 'config',
        status: 'fail',
        detail: message.replace(/\s*\n\s*/g, '; '),
        fix: 'fix the listed keys (docs/configuration.md); examples in docs/examples/',
      },
    ],
  };
}

export async function runDoctor(ctx: Context, options: DoctorOptions = {}): Promise<DoctorReport> {
  const { config } = ctx;
  const checks: DoctorCheck[] = [];
  const add = (check: DoctorCheck): void => {
    checks.push(check);
    ctx.logger.debug({ check }, `doctor: ${check.name} ${check.status}`);
  };
  const connectTimeoutMs = config.leader.connectTimeoutMs;
  const queryTimeoutMs = config.monitor.queryTimeoutMs;

  add(checkConfigFile(ctx.configFile));

  // The leader over SQL: reachable, a primary, its major and clock.
  const conninfo = config.leader.conninfo as string;
  let leader: PgClient | undefined;
  let leaderMajor: number | undefined;
  let clockOffsetMs: number | undefined;
  try {
    leader = await connect(conninfo, { connectTimeoutMs, queryTimeoutMs });
    const sentAt = Date.now();
    const { rows } = await leader.query<{ version: number; recovery: boolean; epoch: string }>(
      "select current_setting('server_version_num')::int as version, pg_is_in_recovery() as recovery, extract(epoch from clock_timestamp())::text as epoch",
    );
    const receivedAt = Date.now();
    const row = rows[0];
    if (!row) throw new Error('the leader returned no row');
    leaderMajor = Math.floor(row.version / 10000);
    // The leader read its clock about halfway through the round trip.
    clockOffsetMs = Number(row.epoch) * 1000 - (sentAt + receivedAt) / 2;
    add(
      row.recovery
        ? {
            name: 'leader-sql',
            status: 'fail',
            detail: `${describeConninfo(conninfo)} answers but is a standby, not the leader`,
            fix: 'point leader.conninfo at the current primary (after a failover: pgfollower follow --leader ...)',
          }
        : {
            name: 'leader-sql',
            status: 'ok',
            detail: `${describeConninfo(conninfo)} answers: PostgreSQL ${leaderMajor}, primary`,
          },
    );
  } catch (error) {
    add({
      name: 'leader-sql',
      status: 'fail',
      detail: messageOf(error),
      fix: 'check the leader host and port, pg_hba.conf and the password in ~/.pgpass of the user pgfollower runs as',
    });
  }

  add(await checkPrograms(config, leaderMajor));
  add(await checkReplicationConnection(conninfo, connectTimeoutMs));
  add(leader ? await checkSlot(config, leader) : skipped('slot', 'the leader does not answer'));

  // The local server: role, restore_command, privileges.
  let local: PgClient | undefined;
  let localError: string | undefined;
  try {
    local = await connect(localConninfo(config.node), { connectTimeoutMs, queryTimeoutMs });
  } catch (error) {
    localError = messageOf(error);
  }
  try {
    const inRecovery = local
      ? ((await local.query<{ r: boolean }>('select pg_is_in_recovery() as r')).rows[0]?.r ?? null)
      : null;
    add(await checkArchive(ctx, leader, inRecovery));
    add(await checkRestoreCommand(ctx, local, inRecovery));
    add(await checkPrivileges(config, local, localError, leader));
  } finally {
    await local?.end().catch(() => undefined);
    await leader?.end().catch(() => undefined);
  }

  add(await checkUnit(ctx, options.unitFile));
  add(checkClock(clockOffsetMs, options.maxClockSkewMs ?? 1000));

  return { ok: checks.every((c) => c.status !== 'fail'), configFile: ctx.configFile ?? null, checks };
}

function skipped(name: string, detail: string): DoctorCheck {
  return { name, status: 'skip', detail };
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; ');
}

function checkConfigFile(file: string | undefined): DoctorCheck {
  if (!file)
    return {
      name: 'config',
      status: 'ok',
      detail: 'valid; no config file (settings from the environment and flags)',
    };
  const stat = statSync(file);
  const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
  // The loader already refused a world-readable file that holds a secret; say what was checked.
  return {
    name: 'config',
    status: 'ok',
    detail: `${file} is valid; mode ${mode}, owner uid ${stat.uid}${stat.mode & 0o004 ? ' (world-readable, holds no secret)' : ''}`,
  };
}

async function checkPrograms(
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

async function checkReplicationConnection(conninfo: string, connectTimeoutMs: number): Promise<DoctorCheck> {
  let replication: PgClient | undefined;
  try {
    // A physical walsender: the kind pg_basebackup and the standby open, matched by pg_hba.conf's
    // `replication` keyword.
    replication = await connect(conninfo, { replication: 'physical', connectTimeoutMs });
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

async function checkSlot(config: Readonly<Config>, leader: PgClient): Promise<DoctorCheck> {
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

async function checkArchive(
  ctx: Context,
  leader: PgClient | undefined,
  inRecovery: boolean | null,
): Promise<DoctorCheck> {
  const { config } = ctx;
  if (config.archive.type === 'none')
    return skipped(
      'archive',
      'archive.type none: no fallback when the leader recycles WAL this follower still needs',
    );
  let store;
  try {
    store = openArchiveStore(config);
  } catch (error) {
    return { name: 'archive', status: 'fail', detail: messageOf(error), fix: 'fix the archive section' };
  }
  try {
    if (config.archive.type === 'fs' && config.archive.fs) {
      // A missing directory reads as "no such segment": make sure it is there at all.
      const mode =
        inRecovery === false
          ? constants.R_OK | constants.W_OK | constants.X_OK
          : constants.R_OK | constants.X_OK;
      await access(config.archive.fs.path, mode);
      if (!statSync(config.archive.fs.path).isDirectory())
        throw new Error(`${config.archive.fs.path} is not a directory`);
    }
    // Reading a key that is not there proves the store answers and lets us read (S3 says 403
    // rather than "absent" without s3:GetObject/ListBucket).
    await store.head('pgfollower-doctor/absent');
    const parts = [`${store.description} readable`];
    if (inRecovery === false) {
      // The local server is a primary: this host archives, so the archive must take writes.
      await store.put(
        `pgfollower-doctor/${config.node.name ?? 'node'}`,
        Buffer.from('pgfollower doctor\n'),
        {},
      );
      parts.push('writable (this host is the leader)');
    }
    // Leader and followers must use the same archive: the leader's last archived segment is here.
    const last = leader
      ? (await leader.query<{ wal: string | null }>('select last_archived_wal as wal from pg_stat_archiver'))
          .rows[0]?.wal
      : undefined;
    const file = last ? parseWalFile(last) : undefined;
    if (file) {
      let found = false;
      for (const key of candidateKeys(file)) if (await store.head(key)) found = true;
      if (!found)
        return {
          name: 'archive',
          status: 'fail',
          detail: `${parts.join(', ')}, but the leader's last archived segment ${last} is not in it`,
          fix: "the leader archives elsewhere: give it the archive_command `pgfollower archive command` prints, with this host's archive settings",
        };
      parts.push(`holds the leader's last archived ${last}`);
    }
    return { name: 'archive', status: 'ok', detail: parts.join(', ') };
  } catch (error) {
    return {
      name: 'archive',
      status: 'fail',
      detail: messageOf(error),
      fix:
        config.archive.type === 's3'
          ? 'check the bucket, region/endpoint and the AWS credentials of the user pgfollower and PostgreSQL run as'
          : `check that ${config.archive.fs?.path ?? 'the archive directory'} exists and is readable (writable on the leader) by the PostgreSQL OS user`,
    };
  } finally {
    store.close();
  }
}

async function checkRestoreCommand(
  ctx: Context,
  local: PgClient | undefined,
  inRecovery: boolean | null,
): Promise<DoctorCheck> {
  const { config } = ctx;
  if (config.archive.type === 'none') return skipped('restore-command', 'no archive configured');
  if (inRecovery === false) return skipped('restore-command', 'the local server is a primary');
  let current: string | undefined;
  if (local) {
    current = (await local.query<{ v: string }>("select current_setting('restore_command') as v")).rows[0]?.v;
  } else if (config.node.dataDirectory && existsSync(config.node.dataDirectory)) {
    try {
      current = readAutoConf(config.node.dataDirectory).get('restore_command');
    } catch {
      current = undefined;
    }
  }
  const expected = restoreCommandFor(config, { configFile: ctx.configFile });
  const fix = expected
    ? `pgfollower run sets it when empty; or on the follower: ALTER SYSTEM SET restore_command = '${expected.replace(/'/g, "''")}'; select pg_reload_conf()`
    : undefined;
  if (!current)
    return {
      name: 'restore-command',
      status: 'fail',
      detail: 'restore_command is not set: the follower cannot fall back to the archive',
      fix,
    };
  const self = config.archive.command ?? selfCommand()[1];
  if (!current.includes('wal-fetch') || !current.includes(self))
    return {
      name: 'restore-command',
      status: 'fail',
      detail: `restore_command does not run this pgfollower (${self}): ${truncate(current, 120)}`,
      fix,
    };
  if (ctx.configFile && !current.includes(resolve(ctx.configFile)))
    return {
      name: 'restore-command',
      status: 'fail',
      detail: `restore_command runs pgfollower with another config file than ${resolve(ctx.configFile)}`,
      fix,
    };
  return { name: 'restore-command', status: 'ok', detail: `runs ${self} wal-fetch` };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

async function checkPrivileges(
  config: Readonly<Config>,
  local: PgClient | undefined,
  localError: string | undefined,
  leader: PgClient | undefined,
): Promise<DoctorCheck> {
  if (!local)
    return {
      name: 'privileges',
      status: 'fail',
      detail: `the local server does not answer: ${localError ?? '?'}`,
      fix:
        config.node.dataDirectory && existsSync(join(config.node.dataDirectory, 'PG_VERSION'))
          ? 'start it (systemctl start postgresql) and read its log'
          : 'make this host a follower first: pgfollower bootstrap',
    };
  const query =
    "select current_user as role, rolsuper or pg_has_role(current_user, 'pg_monitor', 'member') as ok from pg_roles where rolname = current_user";
  const localRow = (await local.query<{ role: string; ok: boolean }>(query)).rows[0];
  const leaderRow = leader ? (await leader.query<{ role: string; ok: boolean }>(query)).rows[0] : undefined;
  const lacking = [
    ...(localRow?.ok ? [] : [{ where: 'local', role: localRow?.role ?? '?' }]),
    ...(leader && !leaderRow?.ok ? [{ where: 'leader', role: leaderRow?.role ?? '?' }] : []),
  ];
  if (lacking.length > 0)
    return {
      name: 'privileges',
      status: 'fail',
      detail: `${lacking.map((l) => `${l.where} role ${l.role}`).join(' and ')} lack pg_monitor: the monitor cannot read pg_stat_wal_receiver, pg_ls_waldir()`,
      fix: `on the leader (it replicates to the followers): GRANT pg_monitor TO ${[...new Set(lacking.map((l) => l.role))].join(', ')}`,
    };
  return {
    name: 'privileges',
    status: 'ok',
    detail: `local role ${localRow?.role ?? '?'}${leaderRow ? ` and leader role ${leaderRow.role}` : ''} have pg_monitor (or are superusers)`,
  };
}

/** The few unit keys doctor compares, from `[Service]`. */
export interface UnitFacts {
  user: string;
  execStart: string | undefined;
  configFile: string | undefined;
  readWritePaths: string[];
  protectSystemStrict: boolean;
}

export function parseUnit(text: string): UnitFacts {
  const facts: UnitFacts = {
    user: 'root',
    execStart: undefined,
    configFile: undefined,
    readWritePaths: [],
    protectSystemStrict: false,
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value = ''] = match;
    if (key === 'User') facts.user = value.trim();
    else if (key === 'ExecStart')
      facts.execStart = value
        .trim()
        .replace(/^[-@:+!]+/, '')
        .split(/\s+/)[0];
    else if (key === 'Environment') {
      const env = /(?:^|\s)"?PGFOLLOWER_CONFIG=([^"\s]+)/.exec(value);
      if (env) facts.configFile = env[1];
    } else if (key === 'ReadWritePaths')
      facts.readWritePaths.push(
        ...value
          .split(/\s+/)
          .filter(Boolean)
          .map((p) => p.replace(/^-/, '')),
      );
    else if (key === 'ProtectSystem') facts.protectSystemStrict = value.trim() === 'strict';
  }
  return facts;
}

async function checkUnit(ctx: Context, unitFile: string | undefined): Promise<DoctorCheck> {
  const file = unitFile ?? unitSearchPath.find((p) => existsSync(p));
  if (!file)
    return skipped(
      'systemd-unit',
      'no pgfollower.service installed (fine if systemd does not run pgfollower here)',
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { name: 'systemd-unit', status: 'fail', detail: messageOf(error), fix: `check ${file}` };
  }
  const unit = parseUnit(text);
  const problems: string[] = [];
  const fixes: string[] = [];
  const { config } = ctx;

  if (!unit.execStart) problems.push('no ExecStart');
  else if (!existsSync(unit.execStart)) {
    problems.push(`ExecStart ${unit.execStart} does not exist`);
    fixes.push('install with npm install --global --prefix /usr (README) or correct ExecStart');
  } else if (sameFile(unit.execStart, selfCommand()[1]) === false) {
    problems.push(`ExecStart ${unit.execStart} is another pgfollower than this one (${selfCommand()[1]})`);
    fixes.push('point ExecStart at the pgfollower you run, or remove the other install');
  }
  const configFile = ctx.configFile ? resolve(ctx.configFile) : undefined;
  if (configFile && unit.configFile && resolve(unit.configFile) !== configFile) {
    problems.push(`the unit reads ${unit.configFile}, this run read ${configFile}`);
    fixes.push(`set Environment=PGFOLLOWER_CONFIG=${configFile} in the unit (systemctl edit pgfollower)`);
  }
  const uid = await uidOf(unit.user);
  if (uid === undefined) {
    problems.push(`User=${unit.user} does not exist`);
    fixes.push('set User= to the PostgreSQL OS user (postgres)');
  } else {
    const dataDirectory = config.node.dataDirectory;
    if (dataDirectory && existsSync(dataDirectory) && uid !== 0 && statSync(dataDirectory).uid !== uid) {
      problems.push(`User=${unit.user} does not own ${dataDirectory}`);
      fixes.push('run the unit as the owner of the data directory (User=postgres)');
    }
    const readFile = unit.configFile ?? configFile;
    if (readFile && existsSync(readFile) && uid !== 0) {
      const stat = statSync(readFile);
      if (stat.uid !== uid && (stat.mode & 0o044) === 0) {
        problems.push(`User=${unit.user} cannot read ${readFile}`);
        fixes.push(`chown ${unit.user} ${readFile}`);
      }
    }
  }
  if (unit.protectSystemStrict && config.node.dataDirectory) {
    const dir = resolve(config.node.dataDirectory);
    if (!unit.readWritePaths.some((p) => dir === p || dir.startsWith(`${p.replace(/\/$/, '')}/`))) {
      problems.push(
        `ProtectSystem=strict and ${dir} is not under ReadWritePaths (${unit.readWritePaths.join(' ') || 'none'})`,
      );
      fixes.push(`add ${dirname(dir)} to ReadWritePaths (systemctl edit pgfollower)`);
    }
  }
  if (problems.length > 0)
    return {
      name: 'systemd-unit',
      status: 'fail',
      detail: `${file}: ${problems.join('; ')}`,
      fix: [...new Set(fixes)].join('; ') || `correct ${file}`,
    };
  return {
    name: 'systemd-unit',
    status: 'ok',
    detail: `${file}: User=${unit.user}, ${unit.execStart ?? '?'}, config ${unit.configFile ?? '(none)'}`,
  };
}

function sameFile(a: string, b: string): boolean | undefined {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return undefined;
  }
}

async function uidOf(user: string): Promise<number | undefined> {
  if (/^\d+$/.test(user)) return Number(user);
  const result = await execa('getent', ['passwd', user], { reject: false });
  const uid = Number(String(result.stdout).split(':')[2]);
  return result.exitCode === 0 && Number.isInteger(uid) ? uid : undefined;
}

function checkClock(offsetMs: number | undefined, maxSkewMs: number): DoctorCheck {
  if (offsetMs === undefined) return skipped('clock', 'the leader does not answer');
  const text = `${offsetMs >= 0 ? '+' : ''}${(offsetMs / 1000).toFixed(3)} s`;
  if (Math.abs(offsetMs) > maxSkewMs)
    return {
      name: 'clock',
      status: 'fail',
      detail: `the leader's clock differs from this host's by ${text} (more than ${maxSkewMs / 1000} s): lag in seconds and alert times are off`,
      fix: 'run time synchronisation on both hosts (timedatectl set-ntp true, or chrony)',
    };
  return { name: 'clock', status: 'ok', detail: `leader and this host agree within ${text}` };
}
