import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { configFor, run } from './nodes.js';

async function countRows(node: TestCluster): Promise<number | undefined> {
  const rows = await node.query<{ n: string }>('select count(*) as n from t').catch(() => undefined);
  return rows?.[0] ? Number(rows[0].n) : undefined;
}

async function senderPort(node: TestCluster): Promise<number | undefined> {
  const [row] = await node.query<{ port: number }>(
    "select sender_port as port from pg_stat_wal_receiver where status = 'streaming'",
  );
  return row?.port;
}

async function inRecovery(node: TestCluster): Promise<boolean | undefined> {
  const [row] = await node.query<{ r: boolean }>('select pg_is_in_recovery() as r');
  return row?.r;
}

/** leader -> A -> C, C configured as cascaded (leader.conninfo = A, cluster.primary = leader). */
async function cascade(): Promise<{ leader: TestCluster; a: TestCluster; c: TestCluster; configC: string }> {
  const leader = await createLeader();
  const a = await cloneFollower(leader, { slot: 'node_a' });
  const c = await cloneFollower(a, { slot: 'node_c' });
  await leader.query('create table t(id int primary key)');
  await leader.query('insert into t select generate_series(1, 100)');
  await waitFor('rows on C through A', async () => (await countRows(c)) === 100);
  const configC = await configFor(c, 'node_c', a, {
    cluster: { primary: leader.conninfo },
    slot: { name: 'node_c' },
  });
  return { leader, a, c, configC };
}

describe('promote: a cascaded follower', () => {
  it('refuses while its upstream is less behind the primary and lists the numbers; --force promotes it', async () => {
    const { leader, a, c, configC } = await cascade();
    try {
      // C stops receiving; A goes on receiving 100 more rows; then the primary stops.
      await c.query(`alter system set primary_conninfo = ''`);
      await c.query('select pg_reload_conf()');
      await waitFor(
        'C receives nothing',
        async () => (await c.query('select 1 from pg_stat_wal_receiver')).length === 0,
      );
      await leader.query('insert into t select generate_series(101, 200)');
      await waitFor('rows on A', async () => (await countRows(a)) === 200);
      await leader.stop();

      const refused = await run(['--config', configC, 'promote', '--yes', '--json']);
      expect(refused.code).toBe(3);
      const report = JSON.parse(refused.stdout) as {
        checks: Array<{
          name: string;
          ok: boolean;
          forceable?: boolean;
          detail: string;
          numbers?: Record<string, string>;
        }>;
      };
      const check = report.checks.find(
        (x) => x.name === 'no upstream or peer is less behind the primary (cascading)',
      );
      expect(check).toMatchObject({ ok: false, forceable: true });
      expect(check?.detail).toContain(`this node replicates in cascade from 127.0.0.1:${a.port} (a standby)`);
      expect(check?.detail).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${a.port} is [1-9]\\d* bytes less behind the primary`),
      );
      expect(check?.numbers?.ours).toMatch(/^1:[0-9A-F]+\/[0-9A-F]+, [1-9]\d* bytes behind the primary$/);
      expect(check?.numbers?.[`127.0.0.1:${a.port} (upstream)`]).toMatch(/, 0 bytes behind the primary$/);
      // The old leader check asked cluster.primary too: stopped, so not writable.
      expect(report.checks.find((x) => x.name === 'old leader is not accepting writes')?.detail).toContain(
        `127.0.0.1:${leader.port} unreachable`,
      );
      expect(await inRecovery(c)).toBe(true);

      const forced = await run(['--config', configC, 'promote', '--yes', '--force']);
      expect(forced.text).toContain(
        'warning: --force: promoting despite failed check: no upstream or peer is less behind the primary (cascading)',
      );
      expect(forced.code).toBe(0);
      expect(await inRecovery(c)).toBe(false);
      expect(await countRows(c)).toBe(100);
    } finally {
      await c.stop();
      await a.stop();
      if (await leader.isRunning()) await leader.stop();
    }
  });
});

describe('follow: a cascaded follower after a failover', () => {
  it('keeps working when its upstream is promoted; follow --leader <that upstream> keeps it there', async () => {
    const { leader, a, c, configC } = await cascade();
    try {
      await leader.stop();
      await a.query('select pg_promote()');
      await a.query('insert into t values (101)');
      // Nothing done on C: it follows its upstream onto the new timeline by itself.
      await waitFor('row written on promoted A arrives on C', async () => (await countRows(c)) === 101);
      const followed = await run(['--config', configC, 'follow', '--leader', a.conninfo, '--yes']);
      expect(followed.text).toContain('streaming on timeline 2');
      expect(followed.code).toBe(0);
      expect(await senderPort(c)).toBe(a.port);
      await a.query('insert into t values (102)');
      await waitFor('rows on C after follow', async () => (await countRows(c)) === 102);
    } finally {
      await c.stop();
      await a.stop();
    }
  });

  it('keeps its upstream once that follows the new leader (re-points directly before, and with --direct)', async () => {
    const { leader, a, c, configC } = await cascade();
    const b = await cloneFollower(leader, { slot: 'node_b' });
    try {
      await waitFor('rows on B', async () => (await countRows(b)) === 100);
      await leader.stop();
      await b.query('select pg_promote()');

      // A still waits for the old leader: C would be re-pointed at B directly.
      const before = await run(['--config', configC, 'follow', '--leader', b.conninfo, '--dry-run']);
      expect(before.code).toBe(0);
      expect(before.text).toContain(
        `upstream 127.0.0.1:${a.port} is a standby on timeline 1, not yet on 127.0.0.1:${b.port}'s timeline 2`,
      );
      expect(before.text).toContain(`re-pointing this node at 127.0.0.1:${b.port} directly`);
      expect(await senderPort(c)).toBe(a.port);

      // A follows B; then C's follow keeps A as its upstream.
      const configA = await configFor(a, 'node_a', leader, { slot: { name: 'node_a' } });
      expect((await run(['--config', configA, 'follow', '--leader', b.conninfo, '--yes'])).code).toBe(0);
      await b.query('insert into t values (101)');
      await waitFor('B row replayed on A', async () => (await countRows(a)) === 101);
      const kept = await run(['--config', configC, 'follow', '--leader', b.conninfo, '--yes']);
      expect(kept.text).toContain(
        `upstream 127.0.0.1:${a.port} is a standby on 127.0.0.1:${b.port}'s timeline 2: this node keeps streaming from it in cascade`,
      );
      expect(kept.text).toContain(
        `following 127.0.0.1:${b.port} through 127.0.0.1:${a.port} (cascade kept): streaming on timeline 2`,
      );
      expect(kept.text).toContain("next: set cluster.primary to '");
      expect(kept.code).toBe(0);
      expect(await senderPort(c)).toBe(a.port);
      await b.query('insert into t values (102)');
      await waitFor('B rows on C through A', async () => (await countRows(c)) === 102);
      const [slotOnA] = await a.query<{ active: boolean }>(
        "select active from pg_replication_slots where slot_name = 'node_c'",
      );
      expect(slotOnA?.active).toBe(true);

      // --direct: streams from B itself, with its slot there.
      const direct = await run(['--config', configC, 'follow', '--leader', b.conninfo, '--yes', '--direct']);
      expect(direct.text).toContain(`upstream 127.0.0.1:${a.port} is left (--direct)`);
      expect(direct.code).toBe(0);
      await waitFor('C streams from B', async () => (await senderPort(c)) === b.port);
      await b.query('insert into t values (103)');
      await waitFor('B rows on C directly', async () => (await countRows(c)) === 103);
      const [slotOnB] = await b.query<{ active: boolean }>(
        "select active from pg_replication_slots where slot_name = 'node_c'",
      );
      expect(slotOnB?.active).toBe(true);
    } finally {
      await c.stop();
      await a.stop();
      await b.stop();
    }
  });
});
