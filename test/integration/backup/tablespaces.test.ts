import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { takeBackup } from '../../../src/backup/take.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { ExitCode } from '../../../src/errors.js';
import {
  clusterHandle,
  pgbench,
  pgbenchArgs,
  pgTools,
  trackDataDirectory,
  type TestCluster,
  waitForReplay,
} from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { archiveEverything, checksumSql, createBackupRig, newNodeConfig, closeRig } from './helpers.js';

async function runCli(
  args: string[],
  options: { steps?: boolean } = {},
): Promise<{ code: number; text: string; stdout: string }> {
  // steps: the reporter's steps in the text too (they go to stderr on a terminal only).
  const output = { ...createMemoryOutput(), stderrIsTTY: options.steps === true };
  const code = await main(args, { output });
  return { code, text: output.text(), stdout: output.stdout.join('\n') };
}

/** A directory owned by the PostgreSQL OS user (the server creates files in a tablespace). */
async function ownedDir(path: string): Promise<string> {
  const tools = await pgTools();
  await mkdir(path, { recursive: true, mode: 0o700 });
  if (tools.exec.runAs) await chown(path, tools.exec.runAs.uid, tools.exec.runAs.gid);
  return path;
}

const tsSql =
  "select count(*)::text as n, md5(string_agg(id::text || ':' || v, ',' order by id)) as sum from in_ts1";

/**
 * A leader with a user tablespace (table in_ts1 in it), and a follower on the same host whose
 * copy of the tablespace lives elsewhere (pg_basebackup -T). The follower's tablespace location
 * is what its backups record.
 */
async function tablespaceRig(options: { backup?: Record<string, unknown>; rows: number }) {
  const locations = { leader: '', follower: '' };
  const rig = await createBackupRig({
    backup: options.backup,
    prepareLeader: async (leader: TestCluster, dir: string) => {
      locations.leader = await ownedDir(join(dir, 'ts-leader'));
      locations.follower = join(dir, 'ts-follower');
      await leader.query(`create tablespace ts1 location '${locations.leader}'`);
      await leader.query(
        'create table in_ts1 (id bigint generated always as identity primary key, v text) tablespace ts1',
      );
      await leader.query(
        `insert into in_ts1 (v) select md5(g::text) from generate_series(1, ${options.rows}) g`,
      );
      return ['-T', `${locations.leader}=${locations.follower}`];
    },
  });
  await waitFor('the follower to replay in_ts1', async () => {
    const [row] = await rig.follower.query<{ n: string }>('select count(*)::text as n from in_ts1');
    return row?.n === String(options.rows);
  });
  return { rig, locations };
}

describe('backup of a cluster with a tablespace', () => {
  beforeAll(requireBuiltCli);

  it('backs up under load, verifies, rebuilds and restores with a mapping (leader down, rows equal), refuses a non-empty target', async () => {
    const { rig, locations } = await tablespaceRig({ rows: 20_000 });
    const { leader, follower, store } = rig;
    const tools = await pgTools();
    let restored: ReturnType<typeof clusterHandle> | undefined;
    try {
      await pgbench(leader, ['-i', '-s', '2', '-q']);
      await archiveEverything(leader);
      // Load on both tablespaces while the backup runs: pgbench's and inserts into in_ts1.
      const script = join(rig.dir, 'insert-ts1.sql');
      await writeFile(script, 'insert into in_ts1 (v) values (md5(random()::text));\n', { mode: 0o644 });
      const { child: load } = await tools.exec.spawn(
        tools.bin.path('pgbench'),
        pgbenchArgs(leader.port, ['-n', '-c', '2', '-T', '10', '-b', 'tpcb-like', '-f', script]),
      );
      const backup = await takeBackup(rig.ctx, store);
      expect((await load).exitCode).toBe(0);

      expect(backup.tablespaces?.map((t) => [t.name, t.location, t.part])).toEqual([
        ['ts1', locations.follower, `${backup.tablespaces?.[0]?.oid}.tar`],
      ]);
      const ts = backup.tablespaces?.[0];
      expect(ts?.parts.length).toBeGreaterThan(0);
      expect(ts?.rawBytes).toBeGreaterThan(1024 * 1024);
      expect(ts?.files).toBeGreaterThan(0);
      const baseBytes = backup.parts.reduce((n, p) => n + p.rawBytes, 0);
      expect(backup.rawBytes).toBe(baseBytes + (ts?.rawBytes ?? 0));
      const tsKey = ts?.parts[0]?.key ?? '';
      expect(tsKey).toMatch(new RegExp(`^basebackups/${backup.id}/${ts?.oid}\\.tar\\.00000\\.lz4$`));
      expect(existsSync(join(rig.archiveDir, tsKey))).toBe(true);
      // The staging directory beside the follower's data directory is gone.
      const stagingParent = dirname(follower.dataDirectory);
      expect((await readdir(stagingParent)).filter((n) => n.startsWith('.pgfollower-backup-'))).toEqual([]);

      const listed = await runCli(['--config', rig.file, 'backup', 'list', '--json']);
      expect(JSON.parse(listed.stdout)).toMatchObject([
        { id: backup.id, complete: true, tablespaces: [{ name: 'ts1', location: locations.follower }] },
      ]);

      // verify restores the tablespace into its own scratch directory and removes it after.
      const scratch = await ownedDir(join(rig.dir, 'scratch'));
      const verified = await runCli([
        '--config',
        rig.file,
        'backup',
        'verify',
        '--scratch-directory',
        scratch,
      ]);
      expect(verified.text).toContain('[ ok ] pg_verifybackup');
      expect(verified.text).toContain('1 tablespace(s): ts1');
      expect(verified.code, verified.text).toBe(0);
      expect(await readdir(scratch)).toEqual([]);

      // rebuild never moves nor empties the old tablespace directory (the old data directory kept
      // aside still links to it): without a mapping it refuses, before stopping anything.
      const rebuild = await runCli(['--config', rig.file, 'rebuild', '--from-archive', '--yes']);
      expect(rebuild.code, rebuild.text).toBe(ExitCode.REFUSED);
      expect(rebuild.text).toContain(`${locations.follower} is not empty`);
      expect(await follower.isRunning()).toBe(true);
      // With a mapping it rebuilds: the old directory is kept aside, still linked to the old
      // tablespace directory (untouched); the new one has its tablespace at the mapped place.
      trackDataDirectory(follower.dataDirectory);
      const oid = String(backup.tablespaces?.[0]?.oid);
      const rebuiltAt = join(rig.dir, 'ts-rebuilt');
      const rebuilt = await runCli([
        ...['--config', rig.file, 'rebuild', '--from-archive', '--yes', '--json'],
        ...['--tablespace-mapping', `${locations.follower}=${rebuiltAt}`],
      ]);
      expect(rebuilt.code, rebuilt.text).toBe(0);
      const { result } = JSON.parse(rebuilt.stdout) as { result: { state: string; movedAside: string } };
      expect(result.state).toBe('streaming');
      expect(await readlink(join(result.movedAside, 'pg_tblspc', oid))).toBe(locations.follower);
      expect(await readlink(join(follower.dataDirectory, 'pg_tblspc', oid))).toBe(rebuiltAt);
      expect((await readdir(locations.follower)).some((n) => n.startsWith('PG_'))).toBe(true);
      const [{ lsn } = { lsn: '' }] = await leader.query<{ lsn: string }>(
        'select pg_current_wal_lsn()::text as lsn',
      );
      await waitFor('the rebuilt follower to replay the leader position', async () => {
        const [row] = await follower.query<{ ok: boolean }>(
          'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
          [lsn],
        );
        return row?.ok;
      });
      expect(await follower.query(tsSql)).toEqual(await leader.query(tsSql));

      // Writes after the backup, in both tablespaces: replayed from the archive.
      await pgbench(leader, ['-n', '-c', '1', '-t', '200']);
      await leader.query(
        "insert into in_ts1 (v) select md5(g::text || 'after') from generate_series(1, 500) g",
      );
      const [expected] = await leader.query(checksumSql);
      const [expectedTs] = await leader.query(tsSql);
      const finalLsn = await archiveEverything(leader);
      await leader.stop();
      await follower.stop();

      const node = await newNodeConfig(rig, 'replica_b');
      trackDataDirectory(node.dataDirectory);
      // A target that is not empty: refused, nothing written there nor to the data directory.
      const occupied = await ownedDir(join(rig.dir, 'ts-occupied'));
      await writeFile(join(occupied, 'someone-elses-file'), 'keep me\n');
      const refused = await runCli([
        ...['--config', node.file, 'bootstrap', '--from-archive', '--yes'],
        ...['--tablespace-mapping', `${locations.follower}=${occupied}`],
      ]);
      expect(refused.code, refused.text).toBe(ExitCode.REFUSED);
      expect(refused.text).toContain(`${occupied} is not empty`);
      expect(refused.text).toContain('--tablespace-mapping');
      expect(await readdir(occupied)).toEqual(['someone-elses-file']);
      expect(await readFile(join(occupied, 'someone-elses-file'), 'utf8')).toBe('keep me\n');
      expect(existsSync(node.dataDirectory)).toBe(false);
      // Without a mapping the target is the follower's own tablespace, which is not empty either.
      const unmapped = await runCli(['--config', node.file, 'bootstrap', '--from-archive', '--yes']);
      expect(unmapped.code, unmapped.text).toBe(ExitCode.REFUSED);
      expect(unmapped.text).toContain(`${locations.follower} is not empty`);

      const target = join(rig.dir, 'ts-restored');
      const run = await runCli([
        ...['--config', node.file, 'bootstrap', '--from-archive', '--yes', '--json', '--timeout', '3m'],
        ...['--tablespace-mapping', `${locations.follower}=${target}`],
      ]);
      expect(run.code, run.text).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ state: 'archive-recovery', backup: { id: backup.id } });
      expect(await readlink(join(node.dataDirectory, 'pg_tblspc', String(ts?.oid)))).toBe(target);
      restored = clusterHandle('restored', node.socketDirectory, node.dataDirectory, node.port, tools);
      await waitForReplay(
        restored,
        finalLsn,
        `the restored follower to replay up to the leader's last LSN ${finalLsn}`,
      );
      expect(await restored.query(tsSql)).toEqual([expectedTs]);
      expect(Number((expectedTs as { n: string }).n)).toBeGreaterThan(20_500);
      expect(await restored.query(checksumSql)).toEqual([expected]);
      const [where] = await restored.query<{ loc: string }>(
        "select pg_tablespace_location(oid) as loc from pg_tablespace where spcname = 'ts1'",
      );
      expect(where?.loc).toBe(target);
      // The original tablespace directories were never touched.
      expect((await readdir(locations.follower)).some((n) => n.startsWith('PG_'))).toBe(true);
    } finally {
      await restored?.stop();
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 300_000);

  it('backup verify catches a corrupted tablespace part; bootstrap from the leader maps tablespaces too', async () => {
    const { rig, locations } = await tablespaceRig({
      rows: 30_000,
      backup: { compression: 'none', partSize: '1MB' },
    });
    try {
      const taken = await runCli(['--config', rig.file, 'backup', '--json']);
      expect(taken.code, taken.text).toBe(0);
      const backup = JSON.parse(taken.stdout) as {
        id: string;
        tablespaces: Array<{ oid: number; parts: Array<{ key: string }> }>;
      };
      const parts = backup.tablespaces[0]?.parts ?? [];
      expect(parts.length).toBeGreaterThan(1);
      const key = (parts[1] as { key: string }).key;
      const path = join(rig.archiveDir, key);
      const bytes = await readFile(path);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      await writeFile(path, bytes);

      const bad = await runCli(['--config', rig.file, 'backup', 'verify', backup.id]);
      expect(bad.code, bad.text).toBe(ExitCode.FAILED);
      expect(bad.text).toContain(`[FAIL] parts: ${key} is corrupt`);
      expect(bad.text).toContain('FAILED: backup');

      // bootstrap from the leader passes the same mapping to pg_basebackup.
      const node = await newNodeConfig(rig, 'replica_c');
      const mapped = join(rig.dir, 'ts-from-leader');
      const cloned = await runCli([
        ...['--config', node.file, 'bootstrap', '--no-start', '--yes'],
        ...['--tablespace-mapping', `${locations.leader}=${mapped}`],
      ]);
      expect(cloned.code, cloned.text).toBe(0);
      expect(await readlink(join(node.dataDirectory, 'pg_tblspc', String(backup.tablespaces[0]?.oid)))).toBe(
        mapped,
      );
      expect((await readdir(mapped)).some((n) => n.startsWith('PG_'))).toBe(true);
    } finally {
      await closeRig(rig);
    }
  }, 240_000);
  it('a restore that fails halfway through a tablespace removes what it wrote there and leaves no data directory', async () => {
    const { rig, locations } = await tablespaceRig({
      rows: 30_000,
      backup: { compression: 'none', partSize: '1MB' },
    });
    try {
      const backup = await takeBackup(rig.ctx, rig.store);
      const parts = backup.tablespaces?.[0]?.parts ?? [];
      expect(parts.length).toBeGreaterThan(2);
      // base.tar is restored first, then the tablespace's tar part by part: the last part is
      // damaged, so the failure comes after files were written into the tablespace target.
      const key = (parts.at(-1) as { key: string }).key;
      const path = join(rig.archiveDir, key);
      const bytes = await readFile(path);
      bytes[0] = (bytes[0] as number) ^ 0xff;
      await writeFile(path, bytes);
      const node = await newNodeConfig(rig, 'replica_d');
      trackDataDirectory(node.dataDirectory);
      const nodeParent = dirname(node.dataDirectory);
      const leftovers = async () =>
        (await readdir(nodeParent)).filter((n) => n.startsWith('data.') || n === 'data');

      // A target the restore creates: removed again.
      const created = join(rig.dir, 'ts-created');
      const first = await runCli(
        [
          ...['--config', node.file, 'bootstrap', '--from-archive', '--yes', '--no-start'],
          ...['--tablespace-mapping', `${locations.follower}=${created}`],
        ],
        { steps: true },
      );
      expect(first.code, first.text).toBe(ExitCode.FAILED);
      expect(first.text).toContain(
        `restoring tablespace ts1 (OID ${backup.tablespaces?.[0]?.oid}) into ${created}`,
      );
      expect(first.text).toContain(`${key} is corrupt`);
      expect(first.text).toContain('restore another one (--backup ID) or bootstrap from the leader');
      expect(existsSync(created)).toBe(false);
      expect(await leftovers()).toEqual([]);

      // A target that was an empty directory: emptied, kept.
      const empty = await ownedDir(join(rig.dir, 'ts-empty'));
      const second = await runCli([
        ...['--config', node.file, 'bootstrap', '--from-archive', '--yes', '--no-start'],
        ...['--tablespace-mapping', `${locations.follower}=${empty}`],
      ]);
      expect(second.code, second.text).toBe(ExitCode.FAILED);
      expect(second.text).toContain(`${key} is corrupt`);
      expect(await readdir(empty)).toEqual([]);
      expect(await leftovers()).toEqual([]);
      // The follower's own tablespace was never touched.
      expect((await readdir(locations.follower)).some((n) => n.startsWith('PG_'))).toBe(true);
    } finally {
      await closeRig(rig);
    }
  }, 240_000);
});
