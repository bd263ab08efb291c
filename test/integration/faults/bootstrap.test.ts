import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgbench,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
  type TestCluster,
} from '../../helpers/cluster.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { injectFault, missingRows, startRowWriter } from '../../helpers/faults/ledger.js';
import { startTcpProxy, type ProxyMode, type TcpProxy } from '../../helpers/faults/tcp-proxy.js';
import { waitFor } from '../../helpers/wait.js';
import { run } from '../failover/nodes.js';
import { conninfoVia, faultTestTimeoutMs, leaderFaultSettings, waitCaughtUp } from './scaffold.js';

/**
 * bootstrap with a faulty link to the leader: reset and silently dropped (blackhole) in the middle
 * of the copy. Invariants: bootstrap ends in bounded time with exit 1 (never a hang, never 70), says
 * what happened, leaves no partial copy and no slot behind; the retry after the fault streams and
 * every acknowledged row is on the new follower.
 */
useFaultCleanup();

/** Entries next to the data directory that belong to it (data, data.incomplete-*, ...). */
function leftovers(dataDirectory: string): string[] {
  const parent = dirname(dataDirectory);
  return readdirSync(parent).filter((e) => e.startsWith(basename(dataDirectory)));
}

async function slots(leader: TestCluster): Promise<string[]> {
  const rows = await leader.query<{ slot_name: string }>('select slot_name from pg_replication_slots');
  return rows.map((r) => r.slot_name);
}

async function interruptedCopy(
  proxy: TcpProxy,
  configFile: string,
  mode: ProxyMode,
): Promise<{ code: number; text: string; ms: number }> {
  const before = { bytes: proxy.bytes.down, connections: proxy.connections };
  const started = Date.now();
  const attempt = run(['--config', configFile, 'bootstrap', '--yes']);
  // Mid-copy: bootstrap's two connections and pg_basebackup's two (the copy and its WAL
  // receiver) are open, and 8 MB went through.
  await waitFor(
    'the copy under way through the link',
    async () =>
      proxy.connections - before.connections >= 4 && proxy.bytes.down - before.bytes > 8 * 1024 * 1024,
    { timeoutMs: 120_000, intervalMs: 20 },
  );
  await proxy.setMode(mode);
  const result = await attempt;
  await proxy.setMode('pass');
  return { ...result, ms: Date.now() - started };
}

describe('faults: bootstrap', { timeout: faultTestTimeoutMs }, () => {
  it('link reset and blackholed mid-copy: exit 1 in bounded time, nothing left behind; the retry streams', async () => {
    const leader = await createLeader({ settings: leaderFaultSettings });
    const proxy = await startTcpProxy({ port: leader.port });
    const writer = await startRowWriter(leader.conninfo, 'ledger_bootstrap');
    try {
      // About 75 MB: the copy is under way long enough to cut it in the middle.
      await pgbench(leader, ['-i', '-s', '5', '-q']);
      const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader);
      const configFile = await writeConfigFile(dirname(dataDirectory), {
        ...config,
        leader: { conninfo: conninfoVia(proxy.port), connectTimeoutMs: 2000, copyStallTimeoutMs: '5s' },
      });
      trackDataDirectory(dataDirectory);
      const slotsBefore = await slots(leader);

      for (const mode of ['reset', 'blackhole'] as const) {
        const fault = injectFault('bootstrap', `leader link ${mode} mid-copy`);
        const failed = await interruptedCopy(proxy, configFile, mode);
        expect(failed.code, failed.text).toBe(1);
        // A blackhole ends within copyStallTimeoutMs (5 s) plus the cleanup, not never.
        expect(failed.ms, failed.text).toBeLessThan(90_000);
        // Either pg_basebackup notices by itself (a connection it opens times out) or pgfollower's
        // watchdog stops the copy after leader.copyStallTimeoutMs; the watchdog alone is tested
        // in test/unit/bootstrap/base-backup.test.ts.
        if (mode === 'blackhole') expect(failed.text).toMatch(/received nothing for 5 s|timeout expired/);
        expect(failed.text).not.toMatch(/a bug in pgfollower/);
        // The next step names the network, not a password.
        expect(failed.text).toMatch(/next: (the connection to the leader was lost|the link to the leader)/);
        // No partial copy in place or beside it, and no slot of this run on the leader.
        const left = leftovers(dataDirectory).filter(
          (e) => e !== 'data' || readdirSync(join(dirname(dataDirectory), e)).length > 0,
        );
        expect(left, failed.text).toEqual([]);
        expect(await slots(leader)).toEqual(slotsBefore);
        fault.survived();
      }

      const ok = await run(['--config', configFile, 'bootstrap', '--yes']);
      expect(ok.code, ok.text).toBe(0);
      expect(existsSync(join(dataDirectory, 'PG_VERSION'))).toBe(true);
      const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
      try {
        await writer.waitForMore(20);
        const acked = [...writer.acknowledged];
        await waitCaughtUp(leader, follower);
        expect(await missingRows(follower.conninfo, writer.table, acked)).toEqual([]);
      } finally {
        await follower.stop();
      }
    } finally {
      await writer.stop();
      await proxy.close();
      await leader.stop();
    }
  });
});
