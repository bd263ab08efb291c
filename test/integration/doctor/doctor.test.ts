import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../../src/archive/follower/restore-command.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/index.js';
import type { DoctorReport } from '../../../src/doctor/doctor.js';
import { selfCommand } from '../../../src/exec/self.js';
import {
  cloneFollower,
  createLeader,
  makeTempDir,
  writeConfigFile,
  type TestCluster,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

const root = resolve(import.meta.dirname, '../../..');

async function doctor(
  argv: string[],
  flags: string[] = [],
): Promise<{ code: number; report: DoctorReport; text: string }> {
  const json = createMemoryOutput();
  const code = await main([...argv, 'doctor', '--json', ...flags], { output: json, env: {} });
  const human = createMemoryOutput();
  expect(await main([...argv, 'doctor', ...flags], { output: human, env: {} })).toBe(code);
  if (json.stdout.length === 0) throw new Error(`doctor printed no JSON: ${json.stderr.join('\n')}`);
  return { code, report: JSON.parse(json.stdout.join('\n')) as DoctorReport, text: human.stdout.join('\n') };
}

const statusOf = (report: DoctorReport, name: string) => report.checks.find((c) => c.name === name);

/** The shipped unit, pointed at this checkout's pgfollower, this config and the temp data directory. */
async function unitFor(dir: string, configFile: string, dataDirectory: string): Promise<string> {
  const shipped = await readFile(join(root, 'systemd/pgfollower.service'), 'utf8');
  const unit = shipped
    .replace(/^ExecStart=\S+/m, `ExecStart=${selfCommand()[1]}`)
    .replace(/^Environment=PGFOLLOWER_CONFIG=.*$/m, `Environment=PGFOLLOWER_CONFIG=${configFile}`)
    .replace(/^ReadWritePaths=(.*)$/m, `ReadWritePaths=$1 -${dirname(dataDirectory)}`);
  const file = join(dir, 'pgfollower.service');
  await writeFile(file, unit);
  return file;
}

async function followerConfigFile(
  dir: string,
  leader: TestCluster,
  follower: TestCluster,
  archive: string,
  extra: { slot?: string; user?: string } = {},
): Promise<string> {
  return writeConfigFile(dir, {
    node: {
      name: 'replica_a',
      dataDirectory: follower.dataDirectory,
      port: follower.port,
      host: follower.socketDirectory,
      user: extra.user ?? 'postgres',
    },
    leader: { conninfo: leader.conninfo },
    slot: { name: extra.slot ?? 'replica_a' },
    archive: { type: 'fs', fs: { path: archive } },
    log: { level: 'silent' },
  });
}

describe('pgfollower doctor', () => {
  it('passes on a sound follower host and names each problem with its fix', async () => {
    const leader = await createLeader({ settings: { max_slot_wal_keep_size: '1GB' } });
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const dir = await makeTempDir('pgf-doctor-');
    const archive = join(dir, 'archive');
    await mkdir(archive);
    const configFile = await followerConfigFile(dir, leader, follower, archive);
    const config = loadConfig({ file: configFile, env: {} });
    const restore = restoreCommandFor(config, { configFile }) as string;
    await follower.query(`alter system set restore_command = '${restore.replace(/'/g, "''")}'`);
    await follower.query('select pg_reload_conf()');
    await waitFor(
      'restore_command reloaded',
      async () => (await follower.query("select current_setting('restore_command') as v"))[0]?.v === restore,
    );
    // Owned by postgres, as the README says: the unit's User must read it.
    const postgresUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(configFile, postgresUid, -1);
    const unit = await unitFor(dir, configFile, follower.dataDirectory);

    const good = await doctor(['--config', configFile, '--log-level', 'silent']);
    const byName = Object.fromEntries(good.report.checks.map((c) => [c.name, c.status]));
    expect(byName).toEqual({
      config: 'ok',
      'leader-sql': 'ok',
      programs: 'ok',
      'leader-replication': 'ok',
      slot: 'ok',
      archive: 'ok',
      'restore-command': 'ok',
      privileges: 'ok',
      'systemd-unit': expect.stringMatching(/ok|skip/),
      clock: 'ok',
    });
    expect(good.code).toBe(0);
    expect(good.report.ok).toBe(true);
    expect(good.text).toMatch(/^\[ ok \] leader-sql: .*PostgreSQL \d+, primary$/m);
    expect(good.text).toMatch(/all checks passed$/);

    const withUnit = await doctor(['--config', configFile, '--log-level', 'silent'], ['--unit', unit]);
    expect(statusOf(withUnit.report, 'systemd-unit')).toMatchObject({ status: 'ok' });
    expect(withUnit.code).toBe(0);

    // A unit that reads another config and runs a missing program.
    const badUnit = join(dir, 'bad.service');
    await writeFile(
      badUnit,
      (await readFile(unit, 'utf8'))
        .replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/pgfollower')
        .replace(/^Environment=PGFOLLOWER_CONFIG=.*$/m, 'Environment=PGFOLLOWER_CONFIG=/etc/other.yaml'),
    );
    const unitProblems = await doctor(['--config', configFile, '--log-level', 'silent'], ['--unit', badUnit]);
    expect(unitProblems.code).toBe(1);
    expect(statusOf(unitProblems.report, 'systemd-unit')?.detail).toMatch(
      /ExecStart \/nonexistent\/pgfollower does not exist.*reads \/etc\/other\.yaml/,
    );

    // A slot name the leader does not have.
    const otherSlot = await followerConfigFile(dir, leader, follower, archive, { slot: 'other_slot' });
    const noSlot = await doctor(['--config', otherSlot, '--log-level', 'silent']);
    expect(noSlot.code).toBe(1);
    expect(statusOf(noSlot.report, 'slot')).toMatchObject({
      status: 'fail',
      detail: 'slot other_slot is missing on the leader',
      fix: expect.stringContaining("pg_create_physical_replication_slot('other_slot')"),
    });
    expect(noSlot.text).toMatch(/^\[FAIL\] slot: slot other_slot is missing on the leader\n {7}fix: /m);
    expect(noSlot.text).toMatch(/\d checks? failed: fix them in order/);

    // A local role without pg_monitor.
    await leader.query('create role watcher login');
    await waitFor(
      'role replicated',
      async () => (await follower.query("select 1 as x from pg_roles where rolname = 'watcher'"))[0]?.x,
    );
    const watcher = await followerConfigFile(dir, leader, follower, archive, { user: 'watcher' });
    const unprivileged = await doctor(['--config', watcher, '--log-level', 'silent']);
    expect(statusOf(unprivileged.report, 'privileges')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('GRANT pg_monitor TO watcher'),
    });

    // restore_command that runs something else.
    await follower.query("alter system set restore_command = 'cp /elsewhere/%f %p'");
    await follower.query('select pg_reload_conf()');
    await waitFor(
      'restore_command reloaded',
      async () => (await follower.query("select current_setting('restore_command') as v"))[0]?.v !== restore,
    );
    const foreign = await doctor(['--config', configFile, '--log-level', 'silent']);
    expect(statusOf(foreign.report, 'restore-command')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/does not run this pgfollower/),
      fix: expect.stringContaining('ALTER SYSTEM SET restore_command'),
    });

    // An archive directory that is not there.
    const gone = await followerConfigFile(dir, leader, follower, join(dir, 'no-such-archive'));
    expect(
      statusOf((await doctor(['--config', gone, '--log-level', 'silent'])).report, 'archive'),
    ).toMatchObject({
      status: 'fail',
    });

    // The leader unreachable: said once, dependants skip, exit 1.
    await leader.stop();
    const down = await doctor(['--config', configFile, '--log-level', 'silent']);
    expect(down.code).toBe(1);
    expect(statusOf(down.report, 'leader-sql')?.status).toBe('fail');
    expect(statusOf(down.report, 'slot')?.status).toBe('skip');
    expect(statusOf(down.report, 'clock')?.status).toBe('skip');
    await follower.stop();
  });

  it('a world-readable config holding a password is a config failure (exit 2)', async () => {
    const dir = await makeTempDir('pgf-doctor-');
    const file = join(dir, 'pgfollower.yaml');
    await writeFile(
      file,
      'node: { name: a, dataDirectory: /nonexistent }\nleader: { conninfo: "host=x user=r password=hunter2" }\n',
    );
    await chmod(file, 0o644);
    const r = await doctor(['--config', file, '--log-level', 'silent']);
    expect(r.code).toBe(2);
    expect(r.report.checks).toEqual([
      expect.objectContaining({ name: 'config', status: 'fail', detail: expect.stringMatching(/chmod 600/) }),
    ]);
    expect(r.text).not.toContain('hunter2');
  });
});
