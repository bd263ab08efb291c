import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import getPort from 'get-port';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { cloneFollower, createLeader, makeTempDir, pgbench } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';
import { installed } from '../../helpers/programs.js';

/** The server's status column (UP, DOWN, "UP 1/2", ...) from HAProxy's own stats CSV. */
async function serverStatus(statsUrl: string, proxy: string, server: string): Promise<string | undefined> {
  const csv = await (await fetch(`${statsUrl};csv`)).text();
  const [header, ...rows] = csv.trim().split('\n');
  const columns = (header ?? '').replace(/^# /, '').split(',');
  const at = columns.indexOf('status');
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[0] === proxy && cells[1] === server) return cells[at];
  }
  return undefined;
}

/** Reads through HAProxy as a client would: which server answered, and is it a standby. */
async function readThrough(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    return rows[0]?.r === true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('HAProxy routes reads by /replica?lag= (real HAProxy)', () => {
  it.skipIf(!installed('haproxy'))(
    "takes a follower whose replay is paused out of rotation and puts it back once it caught up (Patroni's OPTIONS template)",
    async () => {
      const leader = await createLeader();
      const follower = await cloneFollower(leader, { slot: 'replica_a' });
      const ctx = await supervisorContext(leader, follower, { slot: 'replica_a' });
      await using supervisor = await startSupervisor(ctx, { maxBackoffMs: 1000 });
      const api = supervisor.httpAddress();
      if (!api) throw new Error('HTTP API did not start');

      const dir = await makeTempDir('pgf-haproxy-');
      const readPort = await getPort();
      const statsPort = await getPort();
      const cfg = join(dir, 'haproxy.cfg');
      // The widely copied Patroni template, unchanged but for addresses and faster check timings.
      await writeFile(
        cfg,
        [
          'global',
          '    maxconn 100',
          'defaults',
          '    mode tcp',
          '    timeout connect 2s',
          '    timeout client 30s',
          '    timeout server 30s',
          '    timeout check 1s',
          'listen stats',
          '    mode http',
          `    bind 127.0.0.1:${statsPort}`,
          '    stats enable',
          '    stats uri /',
          'listen pg_read',
          `    bind 127.0.0.1:${readPort}`,
          '    option httpchk OPTIONS /replica?lag=1MB',
          '    http-check expect status 200',
          '    default-server inter 300ms fall 2 rise 2 on-marked-down shutdown-sessions',
          `    server replica_a 127.0.0.1:${follower.port} check port ${api.port}`,
          '',
        ].join('\n'),
      );
      const haproxy = execa('haproxy', ['-db', '-f', cfg], { reject: false, stdin: 'ignore' });
      try {
        const stats = `http://127.0.0.1:${statsPort}/`;
        const status = () => serverStatus(stats, 'pg_read', 'replica_a');
        await waitFor('HAProxy marks the streaming follower UP', async () => (await status()) === 'UP', {
          timeoutMs: 30_000,
        });
        expect(await readThrough(readPort)).toBe(true);

        // Replay paused while the leader writes: the follower falls more than 1MB behind.
        await follower.query('select pg_wal_replay_pause()');
        await pgbench(leader, ['-i', '-s', '2']);
        const behindAt = Date.now();
        await waitFor(
          'lag above 1MB',
          async () => (supervisor.latest()?.lag.replayLagBytes ?? 0n) > 1024n * 1024n,
        );
        await waitFor('HAProxy marks the lagging follower DOWN', async () => (await status()) === 'DOWN', {
          timeoutMs: 30_000,
          intervalMs: 100,
        });
        const downAfterMs = Date.now() - behindAt;
        await expect(readThrough(readPort)).rejects.toThrow();

        // Replay resumed: caught up, back in rotation, reads flow again.
        await follower.query('select pg_wal_replay_resume()');
        const resumedAt = Date.now();
        await waitFor('HAProxy marks the follower UP again', async () => (await status()) === 'UP', {
          timeoutMs: 60_000,
          intervalMs: 100,
        });
        const upAfterMs = Date.now() - resumedAt;
        expect(await readThrough(readPort)).toBe(true);
        console.log(`haproxy: DOWN ${downAfterMs} ms after the load ended, UP ${upAfterMs} ms after resume`);
      } finally {
        haproxy.kill('SIGTERM');
        await haproxy;
        await supervisor.stop('test over');
        await follower.stop();
        await leader.stop();
      }
    },
  );
});
