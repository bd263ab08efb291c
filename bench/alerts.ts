/**
 * Alert latency: time from a lag threshold being crossed on a real leader to the webhook receiving
 * the `firing` notification, through the real supervisor and alert service. Target: <= 2 x
 * monitor.intervalMs. Side by side, the baseline is the monitor alone: the first snapshot that
 * shows the lag (what any reader of the supervisor could know), so the difference is what the
 * alert pipeline (rules, state file, queue, HTTP) adds.
 *
 * The crossing is one WAL record of 9 MB (pg_logical_emit_message, non-transactional) written
 * while the follower's replay is paused, against an 8 MB threshold: it is crossed when the call
 * returns. Latencies are measured from the call's start, so they are upper bounds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAlertService } from '../src/alerts/service.js';
import type { Notification } from '../src/alerts/types.js';
import { loadConfig } from '../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../src/context.js';
import { startSupervisor } from '../src/daemon/supervisor.js';
import { createSilentLogger } from '../src/logging/logger.js';
import type { Snapshot } from '../src/monitor/snapshot.js';
import { connect } from '../src/postgres/client.js';
import {
  cleanupTempDirs,
  cloneFollower,
  createLeader,
  makeTempDir,
  pgTools,
  type TestCluster,
} from '../test/helpers/cluster.js';
import { waitFor } from '../test/helpers/wait.js';

const THRESHOLD = 8 * 1024 * 1024;
const RECORD = 9 * 1024 * 1024;
const TRIALS = Number(process.env.BENCH_ALERT_TRIALS ?? 12);
const INTERVALS = (process.env.BENCH_ALERT_INTERVALS ?? '1000,250').split(',').map(Number);

export async function run(): Promise<void> {
  const tools = await pgTools();

  // A webhook receiver on loopback that timestamps arrivals.
  const arrivals: Array<{ at: number; body: Notification }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrivals.push({
        at: performance.now(),
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notification,
      });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  let leaderCluster: TestCluster | undefined;
  let followerCluster: TestCluster | undefined;
  try {
    const root = await makeTempDir('pgf-bench-alerts-');
    leaderCluster = await createLeader({ settings: { wal_keep_size: '512MB' } });
    followerCluster = await cloneFollower(leaderCluster);
    const leaderConninfo = leaderCluster.conninfo;
    const followerConninfo = followerCluster.conninfo;
    const followerDir = followerCluster.dataDirectory;

    const leader = await connect(leaderConninfo, { connectTimeoutMs: 10_000 });
    const follower = await connect(followerConninfo, { connectTimeoutMs: 10_000 });
    console.log(
      `trials per interval: ${TRIALS}; threshold ${THRESHOLD / 1048576} MB crossed by one ${RECORD / 1048576} MB WAL record`,
    );
    console.log(
      'interval | n | monitor alone: median / p95 / max | alert at webhook: median / p95 / max | target (2 x interval) | max / target',
    );
    try {
      for (const intervalMs of INTERVALS) {
        const config = loadConfig({
          env: {},
          overrides: {
            node: {
              name: 'bench',
              dataDirectory: followerDir,
              port: followerCluster.port,
              host: followerCluster.socketDirectory,
              user: 'postgres',
            },
            leader: { conninfo: leaderConninfo },
            slot: { enabled: false },
            monitor: { intervalMs, queryTimeoutMs: 2000 },
            log: { level: 'silent' },
            alerts: {
              rateLimitMs: 0,
              rules: {
                lagBytes: { warning: THRESHOLD, critical: '1TB', for: 0, clearFor: 0 },
                lagSeconds: { enabled: false },
              },
              channels: [{ type: 'webhook', url: hookUrl, retries: 0 }],
            },
          },
        });
        const ctx: Context = {
          config,
          logger: createSilentLogger(),
          exec: tools.exec,
          bin: tools.bin,
          clock: systemClock,
          signal: new AbortController().signal,
          reporter: silentReporter,
        };
        const supervisor = await startSupervisor(ctx, {
          http: false,
          services: [createAlertService({ stateFile: join(root, `alerts-${intervalMs}.json`) })],
        });
        let firstOver: number | undefined;
        const onSnapshot = (s: Snapshot): void => {
          if (firstOver === undefined && (s.lag.replayLagBytes ?? 0n) >= BigInt(THRESHOLD))
            firstOver = performance.now();
        };
        supervisor.events.on('snapshot', onSnapshot);
        const monitorMs: number[] = [];
        const alertMs: number[] = [];
        try {
          for (let trial = 0; trial < TRIALS; trial++) {
            // Replay caught up (the previous `resolved` only needed it under the clear threshold).
            await waitFor('lag at 0 before a trial', () => supervisor.latest()?.lag.replayLagBytes === 0n, {
              timeoutMs: 60_000,
              intervalMs: 5,
            });
            await follower.query('select pg_wal_replay_pause()');
            // A random phase against the tick, as a real crossing would have.
            await new Promise((r) => setTimeout(r, Math.random() * intervalMs));
            firstOver = undefined;
            const seen = arrivals.length;
            const start = performance.now();
            await leader.query(
              `select pg_logical_emit_message(false, 'pgfollower-bench', repeat('x', ${RECORD}))`,
            );
            // Latencies are stamped on arrival: the poll interval only paces the next step.
            await waitFor(
              'firing at the webhook',
              () => arrivals.slice(seen).some((a) => a.body.status === 'firing'),
              { timeoutMs: 30_000, intervalMs: 5 },
            );
            const firing = arrivals.slice(seen).find((a) => a.body.status === 'firing');
            alertMs.push((firing?.at ?? Number.NaN) - start);
            monitorMs.push((firstOver ?? Number.NaN) - start);
            await follower.query('select pg_wal_replay_resume()');
            await waitFor(
              'resolved at the webhook',
              () => arrivals.slice(seen).some((a) => a.body.status === 'resolved'),
              { timeoutMs: 30_000, intervalMs: 5 },
            );
          }
        } finally {
          supervisor.events.off('snapshot', onSnapshot);
          await supervisor.stop('bench over');
        }
        const target = 2 * intervalMs;
        const m = summarize(monitorMs);
        const a = summarize(alertMs);
        console.log(
          `${intervalMs} ms | ${TRIALS} | ${m.median} / ${m.p95} / ${m.max} ms | ${a.median} / ${a.p95} / ${a.max} ms | ${target} ms | ${(a.max / target).toFixed(2)}`,
        );
        const added = summarize(alertMs.map((ms, i) => ms - (monitorMs[i] ?? Number.NaN)));
        console.log(
          `  alert pipeline adds, per trial (webhook arrival - snapshot showing the lag): median ${added.median} / p95 ${added.p95} / max ${added.max} ms`,
        );
      }
    } finally {
      await leader.end();
      await follower.end();
    }
  } finally {
    server.close();
    await followerCluster?.stop('immediate').catch(() => undefined);
    await leaderCluster?.stop('immediate').catch(() => undefined);
    await cleanupTempDirs();
  }
}

function summarize(values: number[]): { median: number; p95: number; max: number } {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number): number =>
    Math.round(sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN);
  return { median: at(0.5), p95: at(0.95), max: Math.round(sorted[sorted.length - 1] ?? Number.NaN) };
}
