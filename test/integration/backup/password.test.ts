import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { withClient } from '../../../src/postgres/client.js';
import { makeTempDir, pgTools, writeConfigFile, type TestCluster } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { createBackupRig, type BackupRig, closeRig } from './helpers.js';

// Issue 11: a password in the backup source's conninfo reaches pg_basebackup through a temporary
// 0600 passfile (PGPASSFILE), never its command line (world-readable in /proc/<pid>/cmdline).

const secret = 'Sekr1t-only-in-this-test';
const role = 'pgf_backup';

interface Seen {
  pid: number;
  cmdline: string;
  passfile: string | undefined;
  passfileMode: number | undefined;
  passfileText: string | undefined;
}

/** Every pg_basebackup process whose command line names `port`, until `done()` is true. */
async function watchBasebackups(port: number, done: () => boolean): Promise<Map<number, Seen>> {
  const seen = new Map<number, Seen>();
  while (!done()) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || seen.has(Number(entry))) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'pg_basebackup') continue;
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
        if (!cmdline.includes(`port=${port}`)) continue;
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
        const passfile = environ.find((e) => e.startsWith('PGPASSFILE='))?.slice('PGPASSFILE='.length);
        const present = passfile !== undefined && existsSync(passfile);
        seen.set(Number(entry), {
          pid: Number(entry),
          cmdline,
          passfile,
          passfileMode: present ? statSync(passfile).mode & 0o777 : undefined,
          passfileText: present ? readFileSync(passfile, 'utf8') : undefined,
        });
      } catch {
        // The process ended between readdir and read.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return seen;
}

/** A role that logs in over TCP loopback with a password only (scram-sha-256), replication included. */
async function passwordRole(leader: TestCluster): Promise<string> {
  await leader.query(`create role ${role} superuser replication login password '${secret}'`);
  const hba = join(leader.dataDirectory, 'pg_hba.conf');
  const rules = [
    `host all ${role} 127.0.0.1/32 scram-sha-256`,
    `host replication ${role} 127.0.0.1/32 scram-sha-256`,
  ].join('\n');
  await writeFile(hba, `${rules}\n${await readFile(hba, 'utf8')}`);
  await leader.query('select pg_reload_conf()');
  const withoutPassword = `host=127.0.0.1 port=${leader.port} user=${role} dbname=postgres`;
  // The rule is in force: no password, no login (so the backup below can only have used it).
  await waitFor('pg_hba.conf to want a password', async () => {
    try {
      await withClient(withoutPassword, { connectTimeoutMs: 5000 }, async () => undefined);
      return false;
    } catch (error) {
      return /password/i.test(String(error));
    }
  });
  return `${withoutPassword} password=${secret}`;
}

let restoreTmp: (() => void) | undefined;
afterEach(() => restoreTmp?.());

/**
 * Runs `pgfollower backup --source leader` against the leader through a password login, with
 * passfiles going to a directory of this test's own; returns the CLI result, what was seen of
 * pg_basebackup while it ran, and that directory.
 */
async function backupWithPassword(rig: BackupRig, leaderConninfo: string) {
  const tree = {
    node: {
      name: 'replica_a',
      dataDirectory: rig.follower.dataDirectory,
      port: rig.follower.port,
      host: rig.follower.socketDirectory,
      user: 'postgres',
    },
    leader: { conninfo: leaderConninfo },
    archive: rig.archive,
    backup: { partSize: '1MB', compression: 'none', walTimeoutMs: '90s' },
    log: { level: 'warn' },
  };
  const file = await writeConfigFile(rig.dir, tree);
  const tmp = await makeTempDir('pgf-passtmp-');
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  restoreTmp = () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    restoreTmp = undefined;
  };
  const output = createMemoryOutput();
  let settled = false;
  // --max-rate stretches the copy over a few seconds, so the watcher sees pg_basebackup for sure.
  const run = main(['--config', file, 'backup', '--source', 'leader', '--max-rate', '8M', '--json'], {
    output,
  }).finally(() => {
    settled = true;
  });
  const seen = await watchBasebackups(rig.leader.port, () => settled);
  const code = await run;
  restoreTmp();
  return { code, text: output.text(), stdout: output.stdout.join('\n'), seen: [...seen.values()], tmp };
}

function expectPasswordKeptOff(
  result: Awaited<ReturnType<typeof backupWithPassword>>,
  leaderPort: number,
): void {
  expect(result.code, result.text).toBe(0);
  // pg_basebackup was seen (the watcher ran while it did), its command line is without the
  // password, and its passfile was a 0600 file in the test's temp directory holding it.
  expect(result.seen.length).toBeGreaterThan(0);
  for (const p of result.seen) {
    expect(p.cmdline).toContain(`port=${leaderPort}`);
    expect(p.cmdline).toContain(`user=${role}`);
    expect(p.cmdline).not.toContain(secret);
    expect(p.cmdline).not.toMatch(/password=/i);
    expect(p.passfile?.startsWith(`${result.tmp}/pgfollower-pass-`), p.passfile).toBe(true);
    expect(p.passfileMode).toBe(0o600);
    expect(p.passfileText).toBe(`*:*:*:*:${secret}\n`);
    // Gone once the backup is over.
    expect(existsSync(p.passfile as string)).toBe(false);
  }
  expect(readdirSync(result.tmp).filter((n) => n.startsWith('pgfollower-pass-'))).toEqual([]);
  // Nor in what the command printed.
  expect(result.text).not.toContain(secret);
}

describe('backup with a password in the source conninfo', () => {
  beforeAll(requireBuiltCli);

  it('streams (no tablespace): pg_basebackup never has the password on its command line', async () => {
    const rig = await createBackupRig();
    try {
      const conninfo = await passwordRole(rig.leader);
      const result = await backupWithPassword(rig, conninfo);
      expectPasswordKeptOff(result, rig.leader.port);
      const backup = JSON.parse(result.stdout) as { id: string; tablespaces?: unknown[] };
      expect(backup.tablespaces ?? []).toEqual([]);
      expect(existsSync(join(rig.archiveDir, 'basebackups', backup.id, 'backup.json'))).toBe(true);
    } finally {
      await closeRig(rig);
    }
  }, 180_000);

  it('copies through staging (a tablespace): same, and the backup is complete', async () => {
    const tools = await pgTools();
    const rig = await createBackupRig({
      prepareLeader: async (leader: TestCluster, dir: string) => {
        const location = join(dir, 'ts-leader');
        await mkdir(location, { mode: 0o700 });
        if (tools.exec.runAs) await chown(location, tools.exec.runAs.uid, tools.exec.runAs.gid);
        await leader.query(`create tablespace ts1 location '${location}'`);
        await leader.query(
          'create table in_ts1 tablespace ts1 as select g, md5(g::text) from generate_series(1, 20000) g',
        );
        return ['-T', `${location}=${join(dir, 'ts-follower')}`];
      },
    });
    try {
      const conninfo = await passwordRole(rig.leader);
      const result = await backupWithPassword(rig, conninfo);
      expectPasswordKeptOff(result, rig.leader.port);
      const backup = JSON.parse(result.stdout) as { id: string; tablespaces: Array<{ name: string }> };
      expect(backup.tablespaces.map((t) => t.name)).toEqual(['ts1']);
      expect(existsSync(join(rig.archiveDir, 'basebackups', backup.id, 'backup.json'))).toBe(true);
    } finally {
      await closeRig(rig);
    }
  }, 180_000);
});
