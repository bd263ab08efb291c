import { statSync } from 'node:fs';
import type { Context } from '../context.js';
import { connect, localConninfo, type PgClient } from '../postgres/client.js';
import { describeConninfo } from '../postgres/conninfo.js';
import { checkPrograms, checkReplicationConnection, checkSlot } from './leader-checks.js';
import { checkArchive, checkPrivileges, checkRestoreCommand } from './local-checks.js';
import { messageOf, skipped, type DoctorCheck, type DoctorOptions, type DoctorReport } from './types.js';
import { checkUnit } from './unit.js';

export type { DoctorReport } from './types.js';
export { parseUnit } from './unit.js';

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
    leader = await connect(conninfo, { connectTimeoutMs, queryTimeoutMs, signal: ctx.signal });
    const sentAt = ctx.clock.now();
    const { rows } = await leader.query<{ version: number; recovery: boolean; epoch: string }>(
      "select current_setting('server_version_num')::int as version, pg_is_in_recovery() as recovery, extract(epoch from clock_timestamp())::text as epoch",
    );
    const receivedAt = ctx.clock.now();
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
  add(await checkReplicationConnection(conninfo, connectTimeoutMs, ctx.signal));
  add(leader ? await checkSlot(config, leader) : skipped('slot', 'the leader does not answer'));

  // The local server: role, restore_command, privileges.
  let local: PgClient | undefined;
  let localError: string | undefined;
  try {
    local = await connect(localConninfo(config.node), {
      connectTimeoutMs,
      queryTimeoutMs,
      signal: ctx.signal,
    });
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
