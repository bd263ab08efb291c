import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, waitFor, type TestCluster } from '../../helpers/cluster.js';
import { configFor, run } from './nodes.js';

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
  it('refuses while the leader runs, then promotes after it stops: writable on timeline 2 with the rows', async () => {
    const leader = await createLeader({ settings: { wal_log_hints: 'on' } });
    const a = await cloneFollower(leader, { slot: 'node_a' });
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

    const promoted = await run(['--config', config, 'promote', '--yes']);
    expect(promoted.text).toContain('promoted: this node is the leader on timeline 2');
    expect(promoted.code).toBe(0);
    expect(promoted.text).toMatch(/rebuild --leader '.*port=/);
    expect(await timelineOf(a)).toBe(2);
    await a.query("insert into t values (501, 'after failover')");
    expect(await countRows(a)).toBe(501);
    const settings = await a.query<{ v: string }>(
      "select setting as v from pg_settings where name = 'primary_conninfo'",
    );
    expect(settings[0]?.v).toBe('');
    await a.stop();
  });
});
