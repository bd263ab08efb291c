import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, pgbench, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { configFor, run } from './nodes.js';

async function countRows(node: TestCluster, sql: string): Promise<number | undefined> {
  const rows = await node.query<{ n: string }>(sql).catch(() => undefined);
  return rows?.[0] ? Number(rows[0].n) : undefined;
}

/** pids of the pg_basebackup (and its WAL-streaming child) writing next to `dataDirectory`. */
function findBaseBackupPids(dataDirectory: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (
        cmdline[0]?.endsWith('pg_basebackup') &&
        cmdline.some((a) => a.startsWith(`${dataDirectory}.incomplete-`))
      ) {
        pids.push(Number(entry));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      try {
        total += statSync(join(entry.parentPath, entry.name)).size;
      } catch {
        // removed while we counted
      }
    }
  }
  return total;
}

describe('rebuild', () => {
  it('clones when neither wal_log_hints nor checksums allow pg_rewind; a clone killed midway keeps the old directory', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await pgbench(leader, ['-i', '-s', '4', '-q']);
    await waitFor(
      'pgbench data on a',
      async () => (await countRows(a, 'select count(*) as n from pgbench_branches')) === 4,
    );
    await leader.stop();
    const configA = await configFor(a, 'node_a', leader);
    const promoted = await run(['--config', configA, 'promote', '--yes']);
    expect(promoted.code).toBe(0);
    // The old leader comes back and writes a little: diverged.
    await leader.start();
    await leader.query('create table lost(id int)');
    await leader.stop();
    const configOld = await configFor(leader, 'old_leader', a);

    // First attempt, throttled so it can be killed while pg_basebackup copies.
    const attempt = run([
      '--config',
      configOld,
      'rebuild',
      '--leader',
      a.conninfo,
      '--yes',
      '--max-rate',
      '4M',
    ]);
    await waitFor('pg_basebackup running', async () => findBaseBackupPids(leader.dataDirectory).length > 0, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    // Midway: the copy has real data in it, far from done.
    await waitFor('8 MB copied', async () => {
      const staging = readdirSync(dirname(leader.dataDirectory)).find((e) => e.includes('.incomplete-'));
      return staging && directoryBytes(join(dirname(leader.dataDirectory), staging)) > 8 * 1024 * 1024;
    });
    for (const pid of findBaseBackupPids(leader.dataDirectory)) process.kill(pid, 'SIGKILL');
    const killed = await attempt;
    expect(killed.code).toBe(1);
    expect(killed.text).toContain('plan: clone');
    expect(killed.text).toContain('pg_rewind needs wal_log_hints=on or data checksums');
    const kept = /previous data directory is kept, untouched, at (\S+)/.exec(killed.text)?.[1];
    expect(kept, killed.text).toBeDefined();
    expect(kept?.startsWith(`${leader.dataDirectory}.old-`)).toBe(true);
    expect(existsSync(join(kept ?? '/nonexistent', 'PG_VERSION'))).toBe(true);
    // The old leader's own table is in the kept directory's catalog files: nothing was deleted.
    expect(readdirSync(dirname(leader.dataDirectory)).some((e) => e.includes('.incomplete-'))).toBe(false);

    // A second run clones into the now empty path and streams; the kept directory stays.
    const rebuilt = await run(['--config', configOld, 'rebuild', '--leader', a.conninfo, '--yes']);
    expect(rebuilt.text).toContain(`note: ${kept} was left by an earlier run`);
    expect(rebuilt.text).toMatch(
      /rebuilt by clone in [\d.]+ s: streaming from 127\.0\.0\.1:\d+ on timeline 2/,
    );
    expect(rebuilt.code).toBe(0);
    expect(existsSync(kept ?? '/nonexistent')).toBe(true);
    await a.query('create table after_rebuild(id int)');
    await a.query('insert into after_rebuild values (1)');
    await waitFor(
      'row on the rebuilt node',
      async () => (await countRows(leader, 'select count(*) as n from after_rebuild')) === 1,
    );
    expect(await leader.query("select 1 from pg_class where relname = 'lost'")).toEqual([]);

    await leader.stop();
    await a.stop();
  });
});

describe('rebuild and follow guards', () => {
  it('refuse when --leader is this very server, changing nothing', async () => {
    const leader = await createLeader();
    const config = await configFor(leader, 'self', leader);
    const rebuild = await run(['--config', config, 'rebuild', '--leader', leader.conninfo, '--yes']);
    expect(rebuild.code).toBe(3);
    expect(rebuild.text).toContain('[FAIL] leader is another server');
    const follow = await run(['--config', config, 'follow', '--leader', leader.conninfo, '--yes']);
    expect(follow.code).toBe(3);
    expect(follow.text).toContain('[FAIL] this node is a follower');
    expect(await leader.isRunning()).toBe(true);
    await leader.stop();
  });

  it('a clone that fails after an interrupted pg_rewind does not call the kept directory untouched', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await a.stop();
    // What an interrupted pg_rewind leaves next to the directory it was changing.
    writeFileSync(`${a.dataDirectory}.rewind-in-progress`, '{"started":"earlier"}\n');
    const config = await configFor(a, 'node_a', leader);
    // pg_basebackup refuses a rate this low at once: the clone fails after the move aside.
    const failed = await run(['--config', config, 'rebuild', '--yes', '--max-rate', '1']);
    expect(failed.text).toContain('an earlier pg_rewind was interrupted');
    expect(failed.code).toBe(1);
    const kept = /the previous data directory is kept at (\S+), but an unfinished pg_rewind/.exec(
      failed.text,
    )?.[1];
    expect(kept, failed.text).toBeDefined();
    expect(failed.text).toContain('do not start it');
    expect(failed.text).not.toContain('untouched');
    expect(failed.text).not.toContain(`mv ${kept}`);
    expect(existsSync(join(kept ?? '/nonexistent', 'PG_VERSION'))).toBe(true);
    expect(existsSync(a.dataDirectory)).toBe(false);
    await leader.stop();
  });

  it('rebuild refuses a stopped leader whose --leader is still its standby (nobody promoted)', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.query('create table t(id int)');
    await leader.stop();
    // The operator forgot to promote a: rebuilding the leader from it would replace the leader.
    const config = await configFor(leader, 'old_leader', a);
    const refused = await run(['--config', config, 'rebuild', '--leader', a.conninfo, '--yes']);
    expect(refused.text).toContain('[FAIL] the leader was promoted after this node');
    expect(refused.text).toContain('and still a standby');
    expect(refused.code).toBe(3);
    expect(existsSync(join(leader.dataDirectory, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(leader.dataDirectory, 'standby.signal'))).toBe(false);
    expect(readdirSync(dirname(leader.dataDirectory)).filter((e) => e.includes('.old-'))).toEqual([]);
    await a.stop();
  });

  it('rebuild refuses on the promoted node when --leader names the old leader (newer timeline here)', async () => {
    const leader = await createLeader({ settings: { wal_log_hints: 'on' } });
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.stop();
    const configA = await configFor(a, 'node_a', leader);
    expect((await run(['--config', configA, 'promote', '--yes'])).code).toBe(0);
    await a.query('create table after_promote(id int)');
    await a.query('insert into after_promote values (1)');
    // The old leader is started again; the operator runs rebuild on the wrong host, where
    // leader.conninfo still names the old leader.
    await leader.start();
    const wrong = await run(['--config', configA, 'rebuild', '--yes']);
    expect(wrong.text).toContain(
      `[FAIL] this node is not newer than the leader: this node is on timeline 2, newer than 127.0.0.1:${leader.port}'s timeline 1`,
    );
    expect(wrong.text).toContain('nothing was changed');
    expect(wrong.code).toBe(3);
    expect(await a.isRunning()).toBe(true);
    expect(await countRows(a, 'select count(*) as n from after_promote')).toBe(1);
    const [stillPrimary] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(stillPrimary?.r).toBe(false);
    // Same mistake with a config that cannot log in to the local server: it must not pass blind.
    const blind = await configFor(a, 'node_a', leader, {
      node: {
        name: 'node_a',
        dataDirectory: a.dataDirectory,
        port: a.port,
        host: a.socketDirectory,
        user: 'nosuchuser',
      },
    });
    const unseen = await run(['--config', blind, 'rebuild', '--yes']);
    expect(unseen.text).toContain('[FAIL] history: could not ask the local server, which is running');
    expect(unseen.code).toBe(3);
    expect(await a.isRunning()).toBe(true);
    expect(await countRows(a, 'select count(*) as n from after_promote')).toBe(1);
    await leader.stop();
    await a.stop();
  });
});
