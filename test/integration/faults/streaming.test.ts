import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/wait.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { injectFault, missingRows, startRowWriter } from '../../helpers/faults/ledger.js';
import type { ProxyMode } from '../../helpers/faults/tcp-proxy.js';
import {
  conninfoVia,
  faultSupervisor,
  intervalMs,
  proxiedPair,
  receiverStatus,
  waitCaughtUp,
  waitForReceiver,
  waitForReported,
  faultTestTimeoutMs,
} from './scaffold.js';

/**
 * Streaming under network faults between follower and leader (TCP proxy: cut, reset, blackhole,
 * slow). Both the WAL receiver and the supervisor's leader connection go through the proxy, as
 * both cross the same network on a real follower host. A writer commits on the leader all along.
 * Invariants per fault: every acknowledged row reaches the follower after the fault ends, and
 * the supervisor reports a receiving state soon after the receiver streams again.
 */
useFaultCleanup();

const faults: Array<{ mode: ProxyMode; reality: string }> = [
  { mode: 'cut', reality: 'the WAL receiver lost its connection' },
  { mode: 'reset', reality: 'the WAL receiver lost its connection' },
  { mode: 'blackhole', reality: 'the leader timed out its walsender' },
  { mode: 'slow', reality: 'WAL arrives late' },
];

async function runStreamingFaults(reportBoundMs: number): Promise<{ delays: number[] }> {
  const { leader, follower, proxy } = await proxiedPair();
  const supervisor = await faultSupervisor(leader, follower, {
    leaderConninfo: conninfoVia(proxy.port),
  });
  const writer = await startRowWriter(leader.conninfo, 'ledger_streaming');
  const delays: number[] = [];
  try {
    await waitForReported(supervisor, (s) => s === 'streaming', 20_000, 'streaming at start');
    for (const { mode } of faults) {
      const fault = injectFault('streaming', `proxy ${mode}`);
      await writer.waitForMore(20);
      await proxy.setMode(mode, { delayMs: 300 });
      if (mode === 'blackhole') {
        // Reality: the leader notices the silent receiver after wal_sender_timeout.
        await waitFor('walsender gone on the leader', async () => {
          const rows = await leader.query('select 1 from pg_stat_replication');
          return rows.length === 0;
        });
        await waitForReported(supervisor, (s) => s === 'disconnected', 15_000, 'disconnected in a blackhole');
      } else if (mode === 'slow') {
        await writer.waitForMore(50);
      } else {
        await waitFor(
          'receiver not streaming',
          async () => (await receiverStatus(follower)) !== 'streaming',
          {
            intervalMs: 20,
          },
        );
      }
      await writer.waitForMore(20); // commits go on while the follower is cut off
      await proxy.setMode('pass');
      // Reality: the receiver streams again (a cut/reset one reconnects; a blackholed one too).
      const streamingAt = await waitForReceiver(follower, 'streaming', 30_000);
      const reportedAt = await waitForReported(
        supervisor,
        (s) => s === 'streaming' || s === 'catching-up',
        reportBoundMs,
        `a receiving state within ${reportBoundMs} ms of the receiver streaming after ${mode}`,
      );
      delays.push(reportedAt - streamingAt);
      await writer.waitForMore(10);
      const acked = [...writer.acknowledged];
      await waitCaughtUp(leader, follower);
      const lost = await missingRows(follower.conninfo, writer.table, acked);
      expect(lost, `rows lost after ${mode}`).toEqual([]);
      fault.survived(
        lost.length,
        `state reported ${reportedAt - streamingAt} ms after the receiver streamed`,
      );
    }
  } finally {
    await writer.stop();
    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  }
  expect(proxy.connections).toBeGreaterThan(4); // the faults really were in the path
  return { delays };
}

describe('faults: streaming between follower and leader', { timeout: faultTestTimeoutMs }, () => {
  it('cut, reset, blackhole, slow: no acknowledged row lost; state right within 2 intervals', async () => {
    const { delays } = await runStreamingFaults(2 * intervalMs);
    expect(delays).toHaveLength(faults.length);
  });
});
