import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { StatusDocument } from '../../../src/monitor/status.js';
import { cloneFollower, createLeader, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';
import { configFor, run } from './nodes.js';

async function countRows(node: TestCluster): Promise<number | undefined> {
  const rows = await node.query<{ n: string }>('select count(*) as n from t').catch(() => undefined);
  return rows?.[0] ? Number(rows[0].n) : undefined;
}

interface PromoteJson {
  exitCode: number;
  zeroLoss: boolean;
  zeroLossProof: {
    method: string;
    record?: string;
    recordLsn?: string;
    replayLsn: string;
    syncState?: string;
    observedAt?: string | null;
  } | null;
  zeroLossReason: string | null;
  estimatedLossBytes: number | string | null;
  next?: string[];
}

describe('planned switchover', () => {
  it('after a clean leader stop, promote proves zero loss from the WAL and the old leader follows without pg_rewind', async () => {
    // wal_log_hints off and no checksums: pg_rewind could not run here, so following proves none was needed.
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.query('create table t(id int primary key)');
    await leader.query('insert into t select generate_series(1, 1000)');
    await waitFor('rows on a', async () => (await countRows(a)) === 1000);
    await leader.stop(); // pg_ctl stop -m fast: the shutdown checkpoint is sent to a before it exits

    const config = await configFor(a, 'node_a', leader);
    const promoted = await run(['--config', config, 'promote', '--yes', '--json']);
    const report = JSON.parse(promoted.stdout) as PromoteJson;
    expect(report.exitCode).toBe(0);
    expect(report.zeroLoss).toBe(true);
    expect(report.zeroLossProof?.method).toBe('shutdown-checkpoint');
    expect(report.zeroLossProof?.record).toMatch(/^XLOG CHECKPOINT_SHUTDOWN redo/);
    expect(String(report.estimatedLossBytes)).toBe('0');
    expect(report.next?.join('\n')).toMatch(/on the old leader .* stopped cleanly.*follow --leader/);

    const configOld = await configFor(leader, 'old_leader', a);
    const followed = await run(['--config', configOld, 'follow', '--leader', a.conninfo, '--yes']);
    expect(followed.text).toContain('[ ok ] this node is a follower: a primary stopped cleanly');
    expect(followed.text).toContain('streaming on timeline 2');
    expect(followed.code).toBe(0);
    expect(followed.text).not.toMatch(/rebuilt|plan: pg_rewind/);
    expect(existsSync(join(leader.dataDirectory, 'standby.signal'))).toBe(true);
    await a.query('insert into t values (1001)');
    await waitFor('the new row on the old leader', async () => (await countRows(leader)) === 1001);
    const [recovery] = await leader.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(recovery?.r).toBe(true);

    await leader.stop();
    await a.stop();
  });

  it('after a crash of the leader, promote reports zeroLoss false and why, and the old leader may not follow', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.query('create table t(id int primary key)');
    await leader.query('insert into t select generate_series(1, 1000)');
    await waitFor('rows on a', async () => (await countRows(a)) === 1000);
    await leader.stop('immediate'); // no shutdown checkpoint

    const config = await configFor(a, 'node_a', leader);
    const promoted = await run(['--config', config, 'promote', '--yes', '--json']);
    const report = JSON.parse(promoted.stdout) as PromoteJson;
    expect(report.exitCode).toBe(0);
    expect(report.zeroLoss).toBe(false);
    expect(report.zeroLossProof).toBeNull();
    expect(report.zeroLossReason).toMatch(/the last record received \(.+\) is not a shutdown checkpoint/);
    expect(report.next?.join('\n')).toContain('rebuild --leader');

    const configOld = await configFor(leader, 'old_leader', a);
    const refused = await run(['--config', configOld, 'follow', '--leader', a.conninfo, '--yes']);
    expect(refused.code).toBe(3);
    expect(refused.text).toContain('not shut down cleanly');
    expect(await leader.isRunning()).toBe(false);
    await a.stop();
  });

  it('after a crash during writes, promote does not wait out a torn last record: replay is complete without it', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    await leader.query('create table t(id int primary key)');
    await waitFor('table on a', async () => (await countRows(a)) === 0);
    // Test clusters commit asynchronously: the crash comes while WAL is still being sent, so the
    // last bytes a received may be the start of a record whose end never left the leader.
    await leader.query('insert into t select generate_series(1, 20000)');
    await leader.stop('immediate');

    const config = await configFor(a, 'node_a', leader);
    const promoted = await run(['--config', config, 'promote', '--yes', '--json', '--replay-timeout', '30s']);
    const report = JSON.parse(promoted.stdout) as PromoteJson & {
      checks: Array<{ name: string; ok: boolean; detail: string }>;
    };
    const replay = report.checks.find((c) => c.name === 'all received WAL is replayed');
    expect(replay?.ok, replay?.detail).toBe(true);
    expect(replay?.detail).toMatch(
      /^(replay caught up|replay caught up with every complete record received; the last \d+ bytes are an incomplete record)/,
    );
    expect(report.exitCode, promoted.text).toBe(0);
    await a.stop();
  });

  it('after a crash of a leader whose synchronous standby this node was, promote proves zero loss from synchronous replication', async () => {
    // Test clusters run with synchronous_commit off (initCluster): the proof needs it on.
    const leader = await createLeader({ settings: { synchronous_commit: 'on' } });
    // cluster_name is the WAL receiver's application_name: the name synchronous_standby_names lists.
    const a = await cloneFollower(leader, { slot: 'node_a', settings: { cluster_name: 'node_a' } });
    await leader.query(`alter system set synchronous_standby_names = 'FIRST 1 (node_a)'`);
    await leader.query('select pg_reload_conf()');
    const ctx = await supervisorContext(leader, a, { slot: 'node_a', node: { name: 'node_a' } });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 500 });
    const base = `http://${ctx.config.http.listen}`;
    await waitFor('the supervisor sees node_a as the synchronous standby', async () => {
      const status = (await (await fetch(`${base}/status`)).json()) as StatusDocument;
      return status.lastLeaderSync?.syncState === 'sync';
    });
    // Each commit returns only once node_a has flushed it.
    await leader.query('create table t(id int primary key)');
    await leader.query('insert into t select generate_series(1, 1000)');
    await leader.stop('immediate'); // a crash: no shutdown checkpoint

    const config = await configFor(a, 'node_a', leader, {
      http: { enabled: true, listen: ctx.config.http.listen },
    });
    const promoted = await run(['--config', config, 'promote', '--yes', '--json']);
    const report = JSON.parse(promoted.stdout) as PromoteJson;
    expect(report.exitCode, promoted.text).toBe(0);
    expect(report.zeroLossReason).toBeNull();
    expect(report.zeroLoss).toBe(true);
    expect(report.zeroLossProof).toMatchObject({ method: 'synchronous-standby', syncState: 'sync' });
    expect(report.zeroLossProof?.observedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(String(report.estimatedLossBytes)).toBe('0');
    expect(await countRows(a)).toBe(1000);
    // The old leader may hold WAL it never had acknowledged: it is rebuilt, not followed.
    expect(report.next?.join('\n')).toContain('rebuild --leader');
    await supervisor.stop('test over');
    await a.stop();
  });
});
