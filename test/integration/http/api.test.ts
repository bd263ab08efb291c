import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { StatusDocument } from '../../../src/monitor/status.js';
import { cloneFollower, createLeader, pgbench, writeConfigFile, makeTempDir } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';

/** Prometheus text format: `name{labels} value` per sample line; comments start with #. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}

describe('HTTP API and status/check over a running supervisor', () => {
  it('answers health, replica (with lag bounds), status and metrics; refuses writes', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const ctx = await supervisorContext(leader, follower, { slot: 'replica_a' });
    await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 1000 });
    const address = supervisor.httpAddress();
    if (!address) throw new Error('HTTP API did not start');
    const base = `http://127.0.0.1:${address.port}`;
    const get = async (path: string, init?: RequestInit) => {
      const response = await fetch(base + path, init);
      return { status: response.status, text: await response.text(), headers: response.headers };
    };

    await waitFor('streaming', async () => supervisor.latest()?.state === 'streaming');
    expect((await get('/health')).status).toBe(200);
    expect((await get('/liveness')).status).toBe(200);
    expect((await get('/readiness')).status).toBe(200);
    expect((await get('/replica')).status).toBe(200);
    expect((await get('/replica?lag=16MB&seconds=30')).status).toBe(200);
    expect((await get('/primary')).status).toBe(503);
    expect((await get('/replica?lag=lots')).status).toBe(400);
    expect((await get('/nope')).status).toBe(404);
    const post = await get('/status', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await get('/health', { method: 'HEAD' })).status).toBe(200);
    expect((await get('/replica?lag=1MB', { method: 'OPTIONS' })).status).toBe(200);

    const status = JSON.parse((await get('/status')).text) as StatusDocument;
    expect(status).toMatchObject({
      ok: true,
      node: 'replica_a',
      role: 'replica',
      state: 'streaming',
      timeline: 1,
      lagBytes: 0,
      replayLagSeconds: 0,
      slot: { name: 'replica_a', exists: true, active: true, walStatus: 'reserved' },
    });
    expect(status.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status.leaderLsn).toBe(status.replayLsn);

    const metrics = parseMetrics((await get('/metrics')).text);
    expect(metrics.get('pgfollower_replay_lag_bytes')).toBe(0);
    expect(metrics.get('pgfollower_state{state="streaming"}')).toBe(1);
    expect(metrics.get('pgfollower_state{state="stalled"}')).toBe(0);
    expect(metrics.get('pgfollower_slot_exists')).toBe(1);
    expect(metrics.get('pgfollower_slot_wal_status{status="reserved"}')).toBe(1);
    expect(metrics.get('pgfollower_timeline')).toBe(1);
    expect(metrics.get('pgfollower_leader_pg_wal_bytes')).toBeGreaterThan(0);
    expect(metrics.get('pgfollower_leader_queries_total')).toBeGreaterThan(0);
    expect(metrics.get('pgfollower_process_resident_memory_bytes')).toBeGreaterThan(0);

    // The status command reads the running supervisor.
    const configFile = await writeConfigFile(await makeTempDir(), {
      node: { name: 'replica_a', port: follower.port, host: follower.socketDirectory, user: 'postgres' },
      leader: { conninfo: leader.conninfo },
      slot: { name: 'replica_a' },
      http: { listen: ctx.config.http.listen },
      log: { level: 'silent' },
    });
    const out = createMemoryOutput();
    expect(await main(['--config', configFile, 'status', '--json'], { output: out, env: {} })).toBe(0);
    expect(JSON.parse(out.stdout.join('\n'))).toMatchObject({ source: 'supervisor', state: 'streaming' });
    const human = createMemoryOutput();
    expect(await main(['--config', configFile, 'status'], { output: human, env: {} })).toBe(0);
    expect(human.stdout.join('\n')).toMatch(
      /^replica_a: streaming \(replica, timeline 1\)\n {2}WAL receiver streaming/,
    );
    expect(human.stdout.join('\n')).toMatch(/^ {2}slot replica_a: active, wal_status reserved/m);
    // --direct queries the servers even though the supervisor runs.
    const direct = createMemoryOutput();
    expect(
      await main(['--config', configFile, 'status', '--json', '--direct'], { output: direct, env: {} }),
    ).toBe(0);
    expect(JSON.parse(direct.stdout.join('\n'))).toMatchObject({
      source: 'direct',
      state: 'streaming',
      lagBytes: 0,
    });

    // Replay paused while the leader writes: lag bounds fail, /replica without bounds still 200.
    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '2']);
    await waitFor(
      'lag above 1MB',
      async () => (supervisor.latest()?.lag.replayLagBytes ?? 0n) > 1024n * 1024n,
    );
    const lagging = await get('/replica?lag=1MB');
    expect(lagging.status).toBe(503);
    expect(JSON.parse(lagging.text)).toMatchObject({ ok: false, lagBytes: expect.any(Number) });
    expect((await get('/replica?lag=1MB', { method: 'OPTIONS' })).status).toBe(503);
    expect((await get('/replica')).status).toBe(200);
    const metricsBehind = parseMetrics((await get('/metrics')).text);
    expect(metricsBehind.get('pgfollower_replay_lag_bytes')).toBeGreaterThan(1024 * 1024);
    expect(metricsBehind.get('pgfollower_replay_paused')).toBe(1);
    await follower.query('select pg_wal_replay_resume()');

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});

describe('pgfollower check (Nagios exit codes)', () => {
  it('OK at rest, WARNING/CRITICAL per threshold, CRITICAL when stopped, UNKNOWN on a bad config', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const configFile = await writeConfigFile(await makeTempDir(), {
      node: { name: 'replica_a', port: follower.port, host: follower.socketDirectory, user: 'postgres' },
      leader: { conninfo: leader.conninfo },
      slot: { name: 'replica_a' },
      // Nothing listens here: check queries the servers directly.
      http: { listen: '127.0.0.1:1' },
      log: { level: 'silent' },
    });
    const check = async (...flags: string[]) => {
      const out = createMemoryOutput();
      const code = await main(['--config', configFile, 'check', ...flags], { output: out, env: {} });
      expect(out.stdout).toHaveLength(1);
      return { code, line: out.stdout[0] ?? '' };
    };

    await waitFor('caught up', async () => (await check()).code === 0);
    const ok = await check();
    expect(ok.line).toMatch(
      /^PGFOLLOWER OK - replica_a streaming: .* \| lag_bytes=0B;67108864;1073741824;0 lag_seconds=0\.000s;60;300;0 /,
    );

    // A replayed commit gives the one-shot check a timestamp to measure seconds from.
    await leader.query('create table marker as select 1 as id');
    await waitFor(
      'marker replayed',
      async () => (await follower.query("select to_regclass('marker') as t"))[0]?.t,
    );
    await follower.query('select pg_wal_replay_pause()');
    await pgbench(leader, ['-i', '-s', '2']);
    const warnBytes = await check(
      '--warn-lag',
      '1MB',
      '--crit-lag',
      '1GB',
      '--warn-seconds',
      '3600',
      '--crit-seconds',
      '7200',
    );
    expect(warnBytes.code).toBe(1);
    expect(warnBytes.line).toMatch(/^PGFOLLOWER WARNING - .*replay lag .* > 1 MB/);
    const critBytes = await check(
      '--warn-lag',
      '1MB',
      '--crit-lag',
      '2MB',
      '--warn-seconds',
      '3600',
      '--crit-seconds',
      '7200',
    );
    expect(critBytes.code).toBe(2);
    expect(critBytes.line).toMatch(/^PGFOLLOWER CRITICAL - .*replay lag .* > 2 MB/);
    const warnSeconds = await check(
      '--warn-lag',
      '1GB',
      '--crit-lag',
      '2GB',
      '--warn-seconds',
      '0',
      '--crit-seconds',
      '7200',
    );
    expect(warnSeconds.code).toBe(1);
    expect(warnSeconds.line).toMatch(/behind > 0s/);
    const critSeconds = await check(
      '--warn-lag',
      '1GB',
      '--crit-lag',
      '2GB',
      '--warn-seconds',
      '0',
      '--crit-seconds',
      '0',
    );
    expect(critSeconds.code).toBe(2);
    await follower.query('select pg_wal_replay_resume()');

    await follower.stop();
    const down = await check();
    expect(down.code).toBe(2);
    expect(down.line).toMatch(/^PGFOLLOWER CRITICAL - replica_a stopped: local server not running/);

    const bad = await check('--warn-seconds', 'soon');
    expect(bad.code).toBe(3);
    expect(bad.line).toMatch(/^PGFOLLOWER UNKNOWN - /);
    await leader.stop();
  });
});
