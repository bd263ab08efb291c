import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, makeTempDir, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { waitArchived } from '../../helpers/archive.js';
import { configFor, run } from './nodes.js';
import { buildContext } from '../../../src/cli/context.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { executePromotion } from '../../../src/failover/promote/execute.js';
import { checkPromotion } from '../../../src/failover/promote/plan.js';

async function countRows(node: TestCluster, table = 't'): Promise<number | undefined> {
  const rows = await node.query<{ n: string }>(`select count(*) as n from ${table}`).catch(() => undefined);
  return rows?.[0] ? Number(rows[0].n) : undefined;
}

async function timelineOf(node: TestCluster): Promise<number> {
  const [row] = await node.query<{ t: string }>(
    'select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) as t',
  );
  return Number.parseInt(row?.t ?? '0', 16);
}

describe('promote', () => {
  it('refuses while the leader runs, promotes after it stops; the other follower follows; the diverged old leader is refused', async () => {
    const leader = await createLeader({ settings: { wal_log_hints: 'on' } });
    const a = await cloneFollower(leader, { slot: 'node_a' });
    const b = await cloneFollower(leader, { slot: 'node_b' });
    await leader.query('create table t(id int primary key, note text)');
    await leader.query("insert into t select g, 'before failover' from generate_series(1, 500) g");
    await waitFor('rows on a', async () => (await countRows(a)) === 500, { timeoutMs: 60_000 });
    const config = await configFor(a, 'node_a', leader);

    const refused = await run(['--config', config, 'promote', '--yes']);
    expect(refused.code).toBe(3);
    expect(refused.text).toContain(`127.0.0.1:${leader.port} is up and accepting writes`);
    expect(refused.text).toContain('[FAIL] old leader is not accepting writes');
    const [stillReplica] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(stillReplica?.r).toBe(true);

    await leader.stop();
    const dry = await run(['--config', config, 'promote', '--dry-run']);
    expect(dry.text).toContain('[ ok ] old leader is not accepting writes');
    expect(dry.code).toBe(0);
    // Without --yes and without a terminal it never waits for an answer: it refuses.
    const unconfirmed = await run(['--config', config, 'promote']);
    expect(unconfirmed.code).toBe(3);
    expect(unconfirmed.text).toContain('next: pass --yes');
    const [notYet] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(notYet?.r).toBe(true);

    const promoted = await run(['--config', config, 'promote', '--yes']);
    expect(promoted.text).toContain('promoted: this node is the leader on timeline 2');
    expect(promoted.code).toBe(0);
    // The leader stopped cleanly and this node replayed its shutdown checkpoint: zero loss is proven,
    // so the old leader is told to follow, not to rebuild.
    expect(promoted.text).toContain("zero loss: proven (the old leader's shutdown checkpoint");
    expect(promoted.text).toMatch(/on the old leader .* stopped cleanly.*follow --leader '.*port=/);
    expect(await timelineOf(a)).toBe(2);
    await a.query("insert into t values (501, 'after failover')");
    expect(await countRows(a)).toBe(501);
    const settings = await a.query<{ v: string }>(
      "select setting as v from pg_settings where name = 'primary_conninfo'",
    );
    expect(settings[0]?.v).toBe('');

    // The second follower follows the promoted node and sees rows written after the failover.
    const configB = await configFor(b, 'node_b', leader);
    const followed = await run(['--config', configB, 'follow', '--leader', a.conninfo, '--yes']);
    expect(followed.text).toContain('[ ok ] not past the fork point');
    expect(followed.text).toContain('streaming on timeline 2');
    expect(followed.code).toBe(0);
    await a.query("insert into t values (502, 'seen by b')");
    await waitFor('new rows on b', async () => (await countRows(b)) === 502);
    const slots = await a.query<{ active: boolean }>(
      "select active from pg_replication_slots where slot_name = 'node_b'",
    );
    expect(slots[0]?.active).toBe(true);

    // The old leader comes back and writes: it has diverged, follow refuses and says rebuild.
    await leader.start();
    await leader.query("insert into t values (9001, 'lost on the old leader')");
    await leader.stop();
    const configOld = await configFor(leader, 'old_leader', a);
    const diverged = await run(['--config', configOld, 'follow', '--leader', a.conninfo, '--yes']);
    expect(diverged.code).toBe(3);
    expect(diverged.text).toMatch(
      /\[FAIL\] not past the fork point: .*forked from timeline 1 at .* bytes of WAL past that point/,
    );
    expect(diverged.text).toContain('pgfollower rebuild --leader');
    expect(await leader.isRunning()).toBe(false);

    // rebuild rewinds it (wal_log_hints is on): the lost row is gone, the new leader's rows arrive.
    const rebuilt = await run([
      '--config',
      configOld,
      'rebuild',
      '--leader',
      a.conninfo,
      '--yes',
      '--timeout',
      '60s',
    ]);
    expect(rebuilt.text).toContain('plan: pg_rewind');
    expect(rebuilt.text).toMatch(
      /rebuilt by pg_rewind in [\d.]+ s: streaming from 127\.0\.0\.1:\d+ on timeline 2/,
    );
    expect(rebuilt.code).toBe(0);
    await a.query("insert into t values (503, 'seen by the old leader')");
    await waitFor('new rows on the old leader', async () => (await countRows(leader)) === 503);
    expect(await leader.query('select 1 from t where id = 9001')).toEqual([]);
    const [oldIsReplica] = await leader.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(oldIsReplica?.r).toBe(true);

    await leader.stop();
    await b.stop();
    await a.stop();
  });

  it('refuses when a peer received more and names it; --force overrides only that', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    const b = await cloneFollower(leader, { slot: 'node_b' });
    await leader.query('create table t(id int)');
    await leader.query('insert into t select generate_series(1, 100)');
    await waitFor(
      'rows on a and b',
      async () => (await countRows(a)) === 100 && (await countRows(b)) === 100,
    );
    // Candidate a stops receiving; b keeps streaming and gets 100 more rows.
    await a.query("alter system set primary_conninfo = ''");
    await a.query('select pg_reload_conf()');
    await waitFor('a receiver gone', async () => {
      const rows = await a.query('select 1 from pg_stat_wal_receiver');
      return rows.length === 0;
    });
    await leader.query('insert into t select generate_series(101, 200)');
    await waitFor('rows on b', async () => (await countRows(b)) === 200);
    await leader.stop();
    const config = await configFor(a, 'node_a', leader);

    const refused = await run(['--config', config, 'promote', '--yes', '--peers', b.conninfo]);
    expect(refused.code).toBe(3);
    expect(refused.text).toContain(
      `[FAIL] (--force overrides) no peer is further ahead: 127.0.0.1:${b.port} is further ahead`,
    );
    const asJson = await run(['--config', config, 'promote', '--yes', '--json', '--peers', b.conninfo]);
    expect(asJson.code).toBe(3);
    const report = JSON.parse(asJson.stdout) as {
      exitCode: number;
      checks: Array<{ name: string; ok: boolean }>;
    };
    expect(report.exitCode).toBe(3);
    expect(report.checks.find((c) => c.name === 'no peer is further ahead')?.ok).toBe(false);
    const [still] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(still?.r).toBe(true);

    const forced = await run(['--config', config, 'promote', '--yes', '--force', '--peers', b.conninfo]);
    expect(forced.text).toContain(
      'warning: --force: promoting despite failed check: no peer is further ahead',
    );
    expect(forced.code).toBe(0);
    expect(await timelineOf(a)).toBe(2);
    expect(await countRows(a)).toBe(100);
    // b received WAL a never had: as a running follower it has diverged, and follow says so.
    const configB = await configFor(b, 'node_b', leader);
    const diverged = await run(['--config', configB, 'follow', '--leader', a.conninfo, '--yes']);
    expect(diverged.code).toBe(3);
    expect(diverged.text).toContain('[ ok ] this node is a follower');
    expect(diverged.text).toMatch(/\[FAIL\] not past the fork point: .* bytes of WAL past that point/);
    const [bStill] = await b.query<{ c: string }>(
      "select setting as c from pg_settings where name = 'primary_conninfo'",
    );
    expect(bStill?.c).toContain(`port=${leader.port}`);
    await a.stop();
    await b.stop();
  });

  it('refuses, even with --force, when the old leader is up but refuses our query (a wrong dbname in leader.conninfo)', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    // The leader runs and accepts writes; only the database named in leader.conninfo is wrong.
    const config = await configFor(a, 'node_a', leader, {
      leader: { conninfo: `${leader.conninfo} dbname=no_such_db`, connectTimeoutMs: 2000 },
    });
    const refused = await run(['--config', config, 'promote', '--yes', '--force']);
    expect(refused.text).toContain('[FAIL] old leader is not accepting writes');
    expect(refused.text).toContain(`127.0.0.1:${leader.port} is up but refused our query (3D000`);
    expect(refused.code).toBe(3);
    const [stillReplica] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(stillReplica?.r).toBe(true);
    await a.stop();
    await leader.stop();
  });

  it('checks the old leader again right before pg_promote: one that came back after the checks stops it', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    const config = await configFor(a, 'node_a', leader);
    await leader.stop();
    const ctx = await buildContext({
      global: { config },
      output: createMemoryOutput(),
      signal: new AbortController().signal,
      needBinaries: false,
    });
    const plan = await checkPromotion(ctx, { replayTimeoutMs: 10_000 });
    expect(plan.blocking).toEqual([]);
    // Between the checks and pg_promote (replay wait, confirmation prompt) the old leader returns.
    await leader.start();
    await expect(executePromotion(ctx, plan)).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('the old leader changed since the checks') as unknown,
    });
    const [stillReplica] = await a.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(stillReplica?.r).toBe(true);
    await a.stop();
    await leader.stop();
  });

  it('drains WAL that only the archive holds before promoting', async () => {
    const archiveDir = await makeTempDir('pgf-archive-');
    // The archive layout (wal/<timeline>/<file>), written by a plain shell archive_command.
    const archiveCommand = `d=${archiveDir}/wal/$(echo %f | cut -c1-8); mkdir -p $d && test ! -f $d/%f && cp %p $d/%f`;
    const leader = await createLeader({ settings: { archive_mode: 'on', archive_command: archiveCommand } });
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.query('create table t(id int)');
    await leader.query('insert into t select generate_series(1, 100)');
    await waitFor('rows on a', async () => (await countRows(a)) === 100);
    await a.query("alter system set primary_conninfo = ''");
    await a.query('select pg_reload_conf()');
    await waitFor(
      'a receiver gone',
      async () => (await a.query('select 1 from pg_stat_wal_receiver')).length === 0,
    );
    await leader.query('insert into t select generate_series(101, 300)');
    const [sw] = await leader.query<{ f: string }>('select pg_walfile_name(pg_switch_wal()) as f');
    await waitArchived(leader, sw?.f ?? 'Z');
    await leader.stop();
    expect(await countRows(a)).toBe(100);
    const config = await configFor(a, 'node_a', leader, {
      archive: { type: 'fs', fs: { path: archiveDir } },
    });

    const dry = await run(['--config', config, 'promote', '--dry-run']);
    expect(dry.text).toMatch(/holds \d+ segment\(s\) from our replay position on/);
    const promoted = await run(['--config', config, 'promote', '--yes']);
    expect(promoted.text).toContain('replayed archived WAL copied into pg_wal');
    expect(promoted.code).toBe(0);
    expect(await countRows(a)).toBe(300);
    await a.stop();
  });
});
