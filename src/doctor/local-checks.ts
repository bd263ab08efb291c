import { constants, existsSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { candidateKeys, parseWalFile } from '../archive/store/layout.js';
import { openArchiveStore } from '../archive/store/open-store.js';
import { restoreCommandFor } from '../archive/follower/restore-command.js';
import type { Config } from '../config/schema.js';
import type { Context } from '../context.js';
import { selfCommand } from '../exec/self.js';
import type { PgClient } from '../postgres/client.js';
import { readAutoConf } from '../postgres/standby-config.js';
import { messageOf, skipped, type DoctorCheck } from './types.js';

/** Checks of this host's side: the archive, restore_command, the monitor's privileges. */
export async function checkArchive(
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

export async function checkRestoreCommand(
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

export async function checkPrivileges(
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
