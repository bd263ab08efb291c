import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { buildStatus, type StatusDocument } from '../../../src/monitor/status.js';
import { takeSnapshot } from '../../../src/monitor/monitor.js';
import { cloneFollower, createLeader, makeTempDir, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';

describe('a cascaded follower', () => {
  it('leader -> A -> C: rows written on the leader arrive on C, and C reports A as a standby upstream', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    // pg_basebackup from a standby: C's primary_conninfo names A.
    // Its own slot on A: a clone of A would otherwise inherit A's primary_slot_name (node_a).
    const c = await cloneFollower(a, { slot: 'node_c' });
    try {
      await leader.query('create table t(id int primary key)');
      await leader.query('insert into t select generate_series(1, 100)');
      await waitFor('rows on C through A', async () => {
        const rows = await c.query<{ n: string }>('select count(*) as n from t').catch(() => []);
        return rows[0]?.n === '100';
      });
      const [sender] = await c.query<{ port: number }>(
        'select sender_port as port from pg_stat_wal_receiver',
      );
      expect(sender?.port).toBe(a.port);

      const ctx = await supervisorContext(a, c);
      const doc = await waitFor('C streaming from A in its status', async () => {
        const status = buildStatus(await takeSnapshot(ctx), 'direct');
        return status.state === 'streaming' ? status : undefined;
      });
      expect(doc.upstream).toEqual({ host: '127.0.0.1', port: a.port, isStandby: true, timeline: 1 });
      expect(JSON.stringify(doc.upstream)).not.toContain('password');
      expect(doc.lagBytes).toBe(0);
    } finally {
      await c.stop();
      await a.stop();
      await leader.stop();
    }
  });
});

describe('a cascaded follower with cluster.primary', () => {
  it('shows the lag to its upstream and to the primary apart: status, /status, metrics and check', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    const c = await cloneFollower(a, { slot: 'node_c' });
    try {
      await leader.query('create table t(id int primary key, pad text)');
      const ctx = await supervisorContext(a, c, {
        slot: 'node_c',
        extra: { cluster: { primary: leader.conninfo } },
      });
      await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 500 });
      const address = supervisor.httpAddress();
      if (!address) throw new Error('HTTP API did not start');
      const base = `http://127.0.0.1:${address.port}`;
      const getStatus = async (): Promise<StatusDocument> =>
        (await (await fetch(`${base}/status`)).json()) as StatusDocument;
      await waitFor('C streaming, no lag to A nor to the primary', async () => {
        const s = await getStatus();
        return s.state === 'streaming' && s.lagBytes === 0 && s.primary?.lagBytes === 0;
      });

      // A stops receiving from the leader; the leader writes on. C has all A has: no lag to its
      // upstream, but it lags the primary by what the leader wrote since.
      const [original] = await a.query<{ primary_conninfo: string }>('show primary_conninfo');
      await a.query(`alter system set primary_conninfo = ''`);
      await a.query('select pg_reload_conf()');
      await waitFor(
        'A no longer receives',
        async () => (await a.query('select 1 from pg_stat_wal_receiver')).length === 0,
      );
      await leader.query(`insert into t select g, repeat('x', 100) from generate_series(1, 20000) g`);
      const behind = await waitFor('C behind the primary only', async () => {
        const s = await getStatus();
        return s.lagBytes === 0 && (s.primary?.lagBytes ?? 0) > 1024 * 1024 ? s : undefined;
      });
      expect(behind.upstream).toMatchObject({ port: a.port, isStandby: true });
      expect(behind.primary).toMatchObject({
        host: '127.0.0.1',
        port: leader.port,
        reachable: true,
        isStandby: false,
      });
      expect(behind.primary?.receiveLagBytes).toBeGreaterThan(1024 * 1024);
      // The slot lives on the upstream.
      expect(behind.slot).toMatchObject({ name: 'node_c', exists: true, active: true });
      expect(JSON.stringify(behind.primary)).not.toContain('password');

      const metrics = await (await fetch(`${base}/metrics`)).text();
      const sample = (name: string): number => {
        const match = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics);
        return match ? Number(match[1]) : NaN;
      };
      expect(sample('pgfollower_replay_lag_bytes')).toBe(0);
      expect(sample('pgfollower_primary_replay_lag_bytes')).toBeGreaterThan(1024 * 1024);
      expect(sample('pgfollower_primary_receive_lag_bytes')).toBeGreaterThan(1024 * 1024);
      expect(sample('pgfollower_up{source="primary"}')).toBe(1);

      const configFile = await writeConfigFile(await makeTempDir(), {
        node: { name: 'node_c', port: c.port, host: c.socketDirectory, user: 'postgres' },
        leader: { conninfo: a.conninfo },
        cluster: { primary: leader.conninfo },
        slot: { name: 'node_c' },
        http: { listen: ctx.config.http.listen },
        log: { level: 'silent' },
      });
      const human = createMemoryOutput();
      expect(await main(['--config', configFile, 'status'], { output: human, env: {} })).toBe(0);
      const text = human.stdout.join('\n');
      expect(text).toContain(`upstream 127.0.0.1:${a.port} is a standby: this node replicates in cascade`);
      expect(text).toMatch(
        new RegExp(`lag to the primary 127\\.0\\.0\\.1:${leader.port}: [0-9.]+ [kMG]i?B replay`),
      );
      const check = createMemoryOutput();
      const code = await main(['--config', configFile, 'check', '--direct', '--warn-lag', '64kB'], {
        output: check,
        env: {},
      });
      const line = check.stdout.join('\n');
      expect(code).toBe(1);
      expect(line).toMatch(/^PGFOLLOWER WARNING - node_c streaming: replay lag to the primary /);
      expect(line).toMatch(/ primary_lag_bytes=\d+B;65536;/);
      expect(line).toMatch(/ lag_bytes=0B;/);

      // A receives again: C catches up with the primary through it.
      // ALTER SYSTEM takes no parameters: the statement is built by the server, quoted with %L.
      const [restore] = await a.query<{ sql: string }>(
        `select format('alter system set primary_conninfo = %L', $1::text) as sql`,
        [original?.primary_conninfo],
      );
      await a.query(restore?.sql ?? 'select 1');
      await a.query('select pg_reload_conf()');
      await waitFor('C caught up with the primary', async () => (await getStatus()).primary?.lagBytes === 0);
      await supervisor.stop('test over');
    } finally {
      await c.stop();
      await a.stop();
      await leader.stop();
    }
  });
});
