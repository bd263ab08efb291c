import { existsSync, mkdirSync, readdirSync, writeFileSync, chownSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgbench,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
  type TestCluster,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

async function runCli(args: string[], signal?: AbortSignal) {
  const output = createMemoryOutput();
  const code = await main(args, { output, signal });
  return { code, output, text: output.text() };
}

async function slots(leader: TestCluster): Promise<Array<{ slot_name: string; active: boolean }>> {
  return leader.query('SELECT slot_name, active FROM pg_replication_slots ORDER BY slot_name');
}

function siblings(dataDirectory: string): string[] {
  return readdirSync(dirname(dataDirectory)).filter((e) => e.startsWith(basename(dataDirectory)));
}

describe('pgfollower bootstrap', () => {
  it('copies the leader, creates the slot, streams, and sees rows written afterwards', async () => {
    const leader = await createLeader();
    await leader.query('CREATE TABLE t (id int primary key, note text)');
    await leader.query("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 1000) g");
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    trackDataDirectory(dataDirectory);

    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes']);
    expect(text).toContain('streaming on timeline 1');
    expect(code).toBe(0);

    const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
    await leader.query("INSERT INTO t SELECT g, 'after' FROM generate_series(1001, 1500) g");
    const n = await waitFor('rows written after the backup to reach the follower', async () => {
      const rows = await follower.query<{ n: string }>("SELECT count(*) AS n FROM t WHERE note = 'after'");
      return rows[0]?.n === '500' ? rows[0].n : undefined;
    });
    expect(n).toBe('500');
    expect(await slots(leader)).toEqual([{ slot_name: 'replica_a', active: true }]);
    const [receiver] = await follower.query<{ slot_name: string; status: string }>(
      'SELECT slot_name, status FROM pg_stat_wal_receiver',
    );
    expect(receiver).toEqual({ slot_name: 'replica_a', status: 'streaming' });
    const [app] = await leader.query<{ application_name: string }>(
      'SELECT application_name FROM pg_stat_replication',
    );
    expect(app?.application_name).toBe('replica-a');
    expect(siblings(dataDirectory)).toEqual(['data']);

    await follower.stop();
    await leader.stop();
  });

  it('refuses a non-empty data directory with exit 3 and changes nothing', async () => {
    const leader = await createLeader();
    const { config, dataDirectory } = await followerConfig(leader);
    const tools = await pgTools();
    mkdirSync(dataDirectory);
    writeFileSync(join(dataDirectory, 'precious.txt'), 'keep me');
    if (tools.exec.runAs) chownSync(dataDirectory, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const file = await writeConfigFile(dirname(dataDirectory), config);

    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes']);
    expect(code).toBe(3);
    expect(text).toMatch(/\[FAIL\].*data directory: .* is not empty/);
    expect(text).toContain('--force');
    expect(readdirSync(dataDirectory)).toEqual(['precious.txt']);
    expect(siblings(dataDirectory)).toEqual(['data']);
    expect(await slots(leader)).toEqual([]);
    await leader.stop();
  });

  it('with --force moves the old directory aside, never deleting it', async () => {
    const leader = await createLeader();
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader);
    const tools = await pgTools();
    mkdirSync(dataDirectory);
    writeFileSync(join(dataDirectory, 'precious.txt'), 'keep me');
    if (tools.exec.runAs) chownSync(dataDirectory, tools.exec.runAs.uid, tools.exec.runAs.gid);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    trackDataDirectory(dataDirectory);

    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes', '--force']);
    expect(code).toBe(0);
    const aside = siblings(dataDirectory).filter((e) => e.startsWith('data.old-'));
    expect(aside).toHaveLength(1);
    expect(readdirSync(join(dirname(dataDirectory), aside[0] as string))).toEqual(['precious.txt']);
    expect(text).toContain(aside[0]);
    expect(existsSync(join(dataDirectory, 'PG_VERSION'))).toBe(true);

    await clusterHandle('follower', socketDirectory, dataDirectory, port, tools).stop();
    await leader.stop();
  });

  it('says clearly when the leader is unreachable (exit 1), touching nothing', async () => {
    const leader = await createLeader({ start: false });
    const { config, dataDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes']);
    expect(code).toBe(1);
    expect(text).toMatch(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${leader.port}`));
    expect(text).toMatch(/next: check that the server runs/);
    expect(existsSync(dataDirectory)).toBe(false);
  });

  it('names pg_hba.conf when the leader allows SQL but not replication connections', async () => {
    const leader = await createLeader();
    const hba = join(leader.dataDirectory, 'pg_hba.conf');
    writeFileSync(hba, 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    await leader.query('SELECT pg_reload_conf()');
    const { config, dataDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes']);
    expect(code).toBe(1);
    expect(text).toContain('refuses a replication connection');
    expect(text).toMatch(/next: add a 'host replication/);
    expect(existsSync(dataDirectory)).toBe(false);
    await leader.stop();
  });

  it('leaves no valid-looking directory and no slot when the leader dies during pg_basebackup', async () => {
    const leader = await createLeader();
    await pgbench(leader, ['-i', '-s', '4', '-q']);
    const { config, dataDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    // --max-rate keeps the copy slow enough to kill the leader in the middle of it.
    const run = runCli(['--config', file, 'bootstrap', '--yes', '--max-rate', '2M']);
    await waitFor(
      'pg_basebackup to be copying',
      async () => siblings(dataDirectory).some((e) => e.includes('.incomplete-')),
      {
        timeoutMs: 30_000,
        intervalMs: 50,
      },
    );
    await waitFor('the reservation slot to exist', async () => (await slots(leader)).length > 0);
    await leader.stop('immediate');
    const { code, text } = await run;
    expect(code).toBe(1);
    expect(text).toMatch(/pg_basebackup exited with status/);
    expect(siblings(dataDirectory)).toEqual([]);
    expect(existsSync(dataDirectory)).toBe(false);

    await leader.start();
    expect(await slots(leader)).toEqual([]);
    await leader.stop();
  });

  it('lists every configuration problem at once with exit 2', async () => {
    const leader = await createLeader({ start: false });
    const { dataDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), {
      node: { name: 'x', port: 'not-a-port', dataDirecotry: '/tmp/x' },
      slot: { name: 'Bad-Name' },
      monitor: { intervalMs: 'often' },
    });
    const { code, text } = await runCli(['--config', file, 'bootstrap', '--yes']);
    expect(code).toBe(2);
    for (const key of [
      'node.port',
      'node.dataDirecotry',
      'slot.name',
      'monitor.intervalMs',
      'node.dataDirectory',
      'leader.conninfo',
    ]) {
      expect(text).toContain(`- ${key}:`);
    }
  });
});
