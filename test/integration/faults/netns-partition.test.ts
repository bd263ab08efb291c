import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { appendConf } from '../../../src/postgres/cluster.js';
import { cloneFollower, createLeader, pgTools, trackDataDirectory } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { injectFault, missingRows, startRowWriter } from '../../helpers/faults/ledger.js';
import { canUseNetns, createNetns } from '../../helpers/faults/netns.js';
import { startTcpProxy } from '../../helpers/faults/tcp-proxy.js';
import {
  faultSupervisor,
  followerFaultSettings,
  intervalMs,
  leaderFaultSettings,
  overSocket,
  receiverStatus,
  waitCaughtUp,
  waitForReceiver,
  waitForReported,
  faultTestTimeoutMs,
} from './scaffold.js';

/**
 * A kernel-level partition: the follower's server runs in its own network namespace and reaches
 * the leader over a veth pair. Taking the link down drops packets both ways with no RST, no FIN
 * and no answer to TCP keepalives, which only timeouts can notice. The supervisor (in this
 * namespace) still sees the leader: a partial partition, as when only the replication network fails.
 */
useFaultCleanup();

const netnsUsable = await canUseNetns();

describe(
  'faults: kernel partition of the replication link (network namespace)',
  { timeout: faultTestTimeoutMs },
  () => {
    it.skipIf(!netnsUsable)(
      'blackhole twice: not reported streaming while cut off, nothing lost after',
      async () => {
        const tools = await pgTools();
        const leader = await createLeader({ settings: leaderFaultSettings });
        const ns = await createNetns();
        // The leader listens on loopback; a forwarder on this side of the veth makes it reachable.
        const gateway = await startTcpProxy({ port: leader.port }, { host: ns.hostAddress });
        const follower = overSocket(
          await cloneFollower(leader, { settings: followerFaultSettings, start: false }),
        );
        await appendConf(tools, join(follower.dataDirectory, 'postgresql.auto.conf'), {
          primary_conninfo: `host=${ns.hostAddress} port=${gateway.port} user=postgres dbname=postgres connect_timeout=2 application_name=replica_a`,
        });
        trackDataDirectory(follower.dataDirectory);
        const runAs = tools.exec.runAs ? ['runuser', '-u', tools.exec.runAs.user, '--'] : [];
        const [cmd = 'ip', ...args] = [
          ...ns.prefix,
          ...runAs,
          tools.bin.path('pg_ctl'),
          'start',
          '-D',
          follower.dataDirectory,
          '-w',
          '-t',
          '60',
          '-l',
          follower.logFile,
        ];
        await execa(cmd, args, { cwd: '/' });
        let supervisor: Awaited<ReturnType<typeof faultSupervisor>> | undefined;
        let writer: Awaited<ReturnType<typeof startRowWriter>> | undefined;
        try {
          await waitForReceiver(follower, 'streaming');
          supervisor = await faultSupervisor(leader, follower);
          writer = await startRowWriter(leader.conninfo, 'ledger_netns');
          await waitForReported(supervisor, (s) => s === 'streaming', 20_000, 'streaming at start');
          for (let round = 1; round <= 2; round++) {
            const fault = injectFault('streaming', 'netns blackhole (link down)');
            await writer.waitForMore(20);
            await ns.blackhole();
            const lostAt = await waitFor(
              'the WAL receiver to give up on the silent leader',
              async () => ((await receiverStatus(follower)) !== 'streaming' ? Date.now() : undefined),
              { timeoutMs: 30_000, intervalMs: 50 },
            );
            const reportedDown = await waitForReported(
              supervisor,
              (s) => s !== 'streaming',
              2 * intervalMs + 1000,
              'a non-streaming state while the receiver is cut off',
            );
            expect(reportedDown - lostAt).toBeLessThanOrEqual(2 * intervalMs + 1000);
            await writer.waitForMore(20);
            await ns.heal();
            const streamingAt = await waitForReceiver(follower, 'streaming', 30_000);
            const reportedAt = await waitForReported(
              supervisor,
              (s) => s === 'streaming' || s === 'catching-up',
              2 * intervalMs,
              'a receiving state after the link came back',
            );
            expect(reportedAt - streamingAt).toBeLessThanOrEqual(2 * intervalMs);
            const acked = [...writer.acknowledged];
            await waitCaughtUp(leader, follower);
            const lost = await missingRows(follower.conninfo, writer.table, acked);
            expect(lost).toEqual([]);
            fault.survived(lost.length, `round ${round}`);
          }
        } finally {
          await writer?.stop();
          await supervisor?.stop('test over');
          await follower.stop();
          await leader.stop();
        }
      },
    );
  },
);
