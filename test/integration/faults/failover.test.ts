import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, pgbench, type TestCluster } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { injectFault, missingRows, startRowWriter } from '../../helpers/faults/ledger.js';
import { startTcpProxy } from '../../helpers/faults/tcp-proxy.js';
import { configFor, run } from '../failover/nodes.js';
import {
  conninfoVia,
  faultTestTimeoutMs,
  followerFaultSettings,
  leaderFaultSettings,
  waitCaughtUp,
} from './scaffold.js';

/**
 * The failover workflows with a faulty network to the node they talk to: promote's checks (the
 * old leader behind a slow or silent link), follow and rebuild (the new leader's connection reset
 * or blackholed mid-way). Invariants: no promotion while the old leader answers; no command hangs
 * past its bound; a failed follow or rebuild leaves every data directory with data in place (or
 * moved aside, never deleted); after the fault, a retry succeeds and every acknowledged row is there.
 */
useFaultCleanup();

const via = (node: TestCluster, port: number): TestCluster => ({ ...node, conninfo: conninfoVia(port) });

async function inRecovery(node: TestCluster): Promise<boolean> {
  const [row] = await node.query<{ r: boolean }>('select pg_is_in_recovery() as r');
  return row?.r === true;
}

describe('faults: promote, follow, rebuild', { timeout: faultTestTimeoutMs }, () => {
  it(
    'slow/blackholed old leader, reset/blackholed new leader: refused, bounded, nothing deleted, nothing lost',
    { timeout: faultTestTimeoutMs },
    async () => {
      const leader = await createLeader({ settings: { ...leaderFaultSettings, wal_log_hints: 'on' } });
      const a = await cloneFollower(leader, { settings: followerFaultSettings });
      const b = await cloneFollower(leader, { settings: followerFaultSettings });
      const toOld = await startTcpProxy({ port: leader.port });
      const configA = await configFor(a, 'node_a', via(leader, toOld.port));
      const writer = await startRowWriter(leader.conninfo, 'ledger_failover');
      try {
        await writer.waitForMore(50);

        // promote: the old leader answers slowly. It is up: promote must refuse.
        const slow = injectFault("promote's checks", 'old leader behind a slow link (300 ms)');
        await toOld.setMode('slow', { delayMs: 300 });
        const refused = await run(['--config', configA, 'promote', '--yes']);
        expect(refused.code, refused.text).toBe(3);
        expect(await inRecovery(a)).toBe(true);
        slow.survived();

        // The old leader stops for real, and its link goes silent: the checks end in bounded time.
        await writer.stop();
        const acked = [...writer.acknowledged];
        await waitCaughtUp(leader, a);
        await leader.stop();
        const silent = injectFault("promote's checks", 'old leader stopped, link blackholed');
        await toOld.setMode('blackhole');
        const started = Date.now();
        const dry = await run(['--config', configA, 'promote', '--dry-run']);
        expect(Date.now() - started).toBeLessThan(60_000);
        expect(dry.code, dry.text).toBe(0);
        const promoted = await run(['--config', configA, 'promote', '--yes']);
        expect(promoted.code, promoted.text).toBe(0);
        const lostOnPromote = await missingRows(a.conninfo, writer.table, acked);
        expect(lostOnPromote).toEqual([]);
        silent.survived(lostOnPromote.length);
        await toOld.setMode('pass');
        // A inherited the old leader's short wal_sender_timeout (3 s); pg_basebackup's WAL stream
        // answers every 10 s, so a clone from A needs the default back.
        await a.query("alter system set wal_sender_timeout = '60s'");
        await a.query('select pg_reload_conf()');

        // follow: B re-points to A through a link that resets, then blackholes, then works.
        const toNew = await startTcpProxy({ port: a.port });
        const configB = await configFor(b, 'node_b', leader);
        const writer2 = await startRowWriter(a.conninfo, 'ledger_failover2', { firstId: 1 });
        await writer2.waitForMore(20);
        for (const mode of ['reset', 'blackhole'] as const) {
          const fault = injectFault('follow', `new leader link ${mode}`);
          await toNew.setMode(mode);
          const t0 = Date.now();
          const failed = await run([
            '--config',
            configB,
            'follow',
            '--leader',
            conninfoVia(toNew.port),
            '--yes',
            '--timeout',
            '20s',
          ]);
          expect(failed.code, failed.text).not.toBe(0);
          expect(failed.code).not.toBe(70);
          expect(Date.now() - t0).toBeLessThan(90_000);
          expect(existsSync(join(b.dataDirectory, 'PG_VERSION'))).toBe(true);
          fault.survived();
        }
        await toNew.setMode('pass');
        const followed = await run([
          '--config',
          configB,
          'follow',
          '--leader',
          conninfoVia(toNew.port),
          '--yes',
          '--timeout',
          '60s',
        ]);
        expect(followed.code, followed.text).toBe(0);
        await writer2.waitForMore(20);
        const acked2 = [...writer2.acknowledged];
        await waitCaughtUp(a, b);
        expect(await missingRows(b.conninfo, writer2.table, acked2)).toEqual([]);
        expect(await missingRows(b.conninfo, writer.table, acked)).toEqual([]);

        // rebuild: the old leader, diverged, is re-cloned from A through a link reset mid-copy.
        await leader.start();
        await leader.query('create table lost_on_old_leader as select g from generate_series(1, 1000) g');
        const [rel] = await leader.query<{ path: string }>(
          "select pg_relation_filepath('lost_on_old_leader') as path",
        );
        await leader.stop();
        await pgbench(a, ['-i', '-s', '3']);
        const configOld = await configFor(leader, 'old_leader', a);
        const mid = injectFault('rebuild', 'new leader link reset mid-clone');
        const bytesBefore = toNew.bytes.down;
        const attempt = run([
          '--config',
          configOld,
          'rebuild',
          '--leader',
          conninfoVia(toNew.port),
          '--clone',
          '--yes',
        ]);
        await waitFor(
          '8 MB of the clone through the link',
          async () => toNew.bytes.down - bytesBefore > 8 * 1024 * 1024,
          {
            timeoutMs: 120_000,
            intervalMs: 20,
          },
        );
        await toNew.setMode('reset');
        const failed = await attempt;
        await toNew.setMode('pass');
        expect(failed.code, failed.text).toBe(1);
        // Nothing with data was deleted: the old leader's own table is still on disk somewhere.
        const parent = dirname(leader.dataDirectory);
        const candidates = readdirSync(parent)
          .filter((e) => e === 'data' || e.startsWith('data.old-'))
          .map((e) => join(parent, e));
        expect(
          candidates.some((dir) => existsSync(join(dir, rel?.path ?? 'missing'))),
          `${failed.text}\n${candidates.join(', ')}`,
        ).toBe(true);
        mid.survived();
        const rebuilt = await run([
          '--config',
          configOld,
          'rebuild',
          '--leader',
          conninfoVia(toNew.port),
          '--clone',
          '--yes',
        ]);
        expect(rebuilt.code, `${rebuilt.text}\nfirst attempt:\n${failed.text}`).toBe(0);
        await writer2.waitForMore(10);
        const acked3 = [...writer2.acknowledged];
        await waitCaughtUp(a, leader);
        expect(await missingRows(leader.conninfo, writer2.table, acked3)).toEqual([]);
        await writer2.stop();
      } finally {
        await writer.stop();
        for (const node of [b, a, leader]) await node.stop().catch(() => undefined);
      }
    },
  );
});
