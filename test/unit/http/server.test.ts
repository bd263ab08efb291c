import { describe, expect, it } from 'vitest';
import { createSupervisorMetrics } from '../../../src/http/metrics.js';
import { systemClock } from '../../../src/context.js';
import { parseListen, parseReplicaBounds, replicaVerdict } from '../../../src/http/server.js';
import { localSample, previousSnapshot, unclassified } from '../monitor/fixtures.js';

describe('HTTP helpers', () => {
  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:8008')).toEqual({ host: '127.0.0.1', port: 8008 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
  });

  it('parses /replica bounds like Patroni (bytes or sizes) plus seconds', () => {
    expect(parseReplicaBounds(new URLSearchParams('lag=16MB&seconds=30'))).toEqual({
      lagBytes: 16777216,
      lagSeconds: 30,
    });
    expect(parseReplicaBounds(new URLSearchParams('lag=1048576'))).toEqual({ lagBytes: 1048576 });
    expect(parseReplicaBounds(new URLSearchParams('lag=much'))).toHaveProperty('error');
    expect(parseReplicaBounds(new URLSearchParams('seconds=-1'))).toHaveProperty('error');
    // Durations take units as everywhere else.
    expect(parseReplicaBounds(new URLSearchParams('seconds=30s'))).toEqual({ lagSeconds: 30 });
    expect(parseReplicaBounds(new URLSearchParams('seconds=5m'))).toEqual({ lagSeconds: 300 });
    expect(parseReplicaBounds(new URLSearchParams('seconds=2.5'))).toEqual({ lagSeconds: 2.5 });
    expect(parseReplicaBounds(new URLSearchParams('seconds=soon'))).toHaveProperty('error');
  });

  it('200 only for a running replica within bounds; unknown lag fails a bound', () => {
    const snap = (
      parts: Parameters<typeof unclassified>[0],
      state: Parameters<typeof previousSnapshot>[1] = 'streaming',
    ) => previousSnapshot(unclassified(parts), state);
    expect(replicaVerdict(snap({}), { lagBytes: 0 }).ok).toBe(true);
    expect(replicaVerdict(snap({ lag: { replayLagBytes: 2000n } }), { lagBytes: 1000 }).ok).toBe(false);
    expect(replicaVerdict(snap({ lag: { replayLagSeconds: 31 } }), { lagSeconds: 30 }).ok).toBe(false);
    expect(replicaVerdict(snap({ lag: { replayLagBytes: null } }), {}).ok).toBe(true);
    expect(replicaVerdict(snap({ lag: { replayLagBytes: null } }), { lagBytes: 1 }).reason).toMatch(
      /unknown/,
    );
    expect(replicaVerdict(snap({ local: { error: 'down' } }, 'stopped'), {}).ok).toBe(false);
    expect(replicaVerdict(snap({ local: localSample({ inRecovery: false }) }, 'primary'), {}).ok).toBe(false);
    expect(replicaVerdict(snap({}, 'stalled'), {}).ok).toBe(false);
  });

  it('metrics reflect a snapshot', async () => {
    const m = createSupervisorMetrics();
    m.observe(
      previousSnapshot(
        unclassified({ lag: { replayLagBytes: 1234n, replayLagSeconds: 2.5 } }),
        'catching-up',
      ),
      0.01,
    );
    m.setLeaderQueries(3);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^pgfollower_replay_lag_bytes 1234$/m);
    expect(text).toMatch(/^pgfollower_replay_lag_seconds 2\.5$/m);
    expect(text).toMatch(/^pgfollower_state\{state="catching-up"\} 1$/m);
    expect(text).toMatch(/^pgfollower_state\{state="streaming"\} 0$/m);
    expect(text).toMatch(/^pgfollower_leader_queries_total 3$/m);
    expect(text).toMatch(/^pgfollower_slot_wal_status\{status="reserved"\} 1$/m);

    // Leader unreachable: the lag is unknown, so its gauges are absent (not 0, not stale).
    m.observe(
      previousSnapshot(
        unclassified({
          leader: { error: 'connection refused' },
          lag: { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null },
        }),
        'disconnected',
      ),
      0.01,
    );
    const down = await m.registry.metrics();
    expect(down).not.toMatch(/^pgfollower_replay_lag_bytes /m);
    expect(down).not.toMatch(/^pgfollower_replay_lag_seconds /m);
    expect(down).not.toMatch(/^pgfollower_leader_lsn_bytes /m);
    expect(down).toMatch(/^# TYPE pgfollower_replay_lag_seconds gauge$/m);
    expect(down).toMatch(/^pgfollower_up\{source="leader"\} 0$/m);
  });
});

describe('docs/metrics.md', () => {
  it('documents every metric the supervisor exports', async () => {
    const { readFileSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/metrics.md'), 'utf8');
    const m = createSupervisorMetrics();
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    const ours = names.filter((n) => !/^pgfollower_(process|nodejs)_/.test(n));
    expect(ours.length).toBeGreaterThan(20);
    const missing = ours.filter((n) => !doc.includes(`\`${n}`));
    expect(missing).toEqual([]);
  });
});

describe('startHttpServer', () => {
  it('says what to do when the port is taken', async () => {
    const { createServer } = await import('node:http');
    const { startHttpServer } = await import('../../../src/http/server.js');
    const { createSilentLogger } = await import('../../../src/logging/logger.js');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const m = createSupervisorMetrics();
    try {
      await expect(
        startHttpServer({
          listen: `127.0.0.1:${port}`,
          logger: createSilentLogger(),
          latest: () => undefined,
          lastTickAt: () => undefined,
          intervalMs: () => 1000,
          registry: m.registry,
          clock: systemClock,
        }),
      ).rejects.toMatchObject({ code: 'HTTP_LISTEN', hint: expect.stringMatching(/another process/) });
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
