import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader } from '../../helpers/cluster.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { killPostmaster, seededDelays } from '../../helpers/faults/kill.js';
import { injectFault, missingRows, startRowWriter } from '../../helpers/faults/ledger.js';
import {
  faultSupervisor,
  faultTestTimeoutMs,
  followerFaultSettings,
  intervalMs,
  leaderFaultSettings,
  waitCaughtUp,
  waitForReceiver,
  waitForReported,
} from './scaffold.js';

/**
 * kill -9 of the leader and of the follower at random moments of a steady write load, with the
 * supervisor watching. Invariants: every row whose COMMIT was acknowledged is on the leader after
 * its crash recovery and on the follower after it caught up; the supervisor reports the right
 * state soon after reality changes. PGF_FAULT_SEED replays a run's random moments.
 */
useFaultCleanup();

const seed = Number(process.env.PGF_FAULT_SEED ?? Date.now() % 100_000);

async function killScenario(
  bounds: { leaderMs: number; followerMs: number },
  downtime: { leader: [number, number]; follower: [number, number]; rounds: number },
): Promise<void> {
  const delay = seededDelays(seed);
  const leader = await createLeader({ settings: leaderFaultSettings });
  const follower = await cloneFollower(leader, { settings: followerFaultSettings });
  await waitForReceiver(follower, 'streaming');
  const supervisor = await faultSupervisor(leader, follower);
  const writer = await startRowWriter(leader.conninfo, 'ledger_kill');
  try {
    await waitForReported(supervisor, (s) => s === 'streaming', 30_000, 'streaming at start');
    for (let round = 1; round <= downtime.rounds; round++) {
      // Leader: SIGKILL mid-write, down for a random moment, crash recovery on start.
      const leaderFault = injectFault('streaming', `kill -9 leader (seed ${seed})`);
      await writer.waitForMore(20 + delay(0, 50));
      await killPostmaster(leader.dataDirectory);
      const ackedBeforeCrash = [...writer.acknowledged];
      await new Promise((r) => setTimeout(r, delay(...downtime.leader)));
      await leader.start();
      expect(
        await missingRows(leader.conninfo, writer.table, ackedBeforeCrash),
        `seed ${seed}: leader`,
      ).toEqual([]);
      const streamingAt = await waitForReceiver(follower, 'streaming', 60_000);
      const reportedAt = await waitForReported(
        supervisor,
        (s) => s === 'streaming' || s === 'catching-up',
        bounds.leaderMs,
        `a receiving state after the leader restarted (seed ${seed})`,
      );
      await writer.waitForMore(10);
      const acked = [...writer.acknowledged];
      await waitCaughtUp(leader, follower);
      const lostOnLeader = await missingRows(leader.conninfo, writer.table, acked);
      const lostOnFollower = await missingRows(follower.conninfo, writer.table, acked);
      expect(lostOnLeader, `seed ${seed}`).toEqual([]);
      expect(lostOnFollower, `seed ${seed}`).toEqual([]);
      leaderFault.survived(0, `state reported ${reportedAt - streamingAt} ms after the receiver streamed`);

      // Follower: SIGKILL, down for a random moment, restart.
      const followerFault = injectFault('streaming', `kill -9 follower (seed ${seed})`);
      await killPostmaster(follower.dataDirectory);
      const killedAt = Date.now();
      const reportedStopped = await waitForReported(
        supervisor,
        (s) => s === 'stopped',
        2 * intervalMs + 2000,
        'stopped after the follower was killed',
      );
      expect(reportedStopped - killedAt).toBeLessThanOrEqual(2 * intervalMs + 2000);
      await new Promise((r) => setTimeout(r, delay(...downtime.follower)));
      await writer.waitForMore(20);
      await follower.start();
      const backAt = await waitForReceiver(follower, 'streaming', 60_000);
      const reportedBack = await waitForReported(
        supervisor,
        (s) => s === 'streaming' || s === 'catching-up',
        bounds.followerMs,
        `a receiving state after the follower restarted (seed ${seed})`,
      );
      const acked2 = [...writer.acknowledged];
      await waitCaughtUp(leader, follower);
      const lost = await missingRows(follower.conninfo, writer.table, acked2);
      expect(lost, `seed ${seed}`).toEqual([]);
      followerFault.survived(
        lost.length,
        `state reported ${reportedBack - backAt} ms after the receiver streamed`,
      );
    }
  } finally {
    await writer.stop();
    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  }
}

describe('faults: kill -9 of leader and follower', { timeout: faultTestTimeoutMs }, () => {
  // Short outages, several rounds; the follower's bound is generous here (its restart takes
  // seconds on a loaded machine); the strict bound for both is the test below.
  it(
    'no acknowledged row lost; the state reported within 2 intervals after a leader restart',
    { timeout: faultTestTimeoutMs },
    async () => {
      await killScenario(
        { leaderMs: 2 * intervalMs, followerMs: 30_000 },
        { leader: [200, 2000], follower: [500, 3000], rounds: 2 },
      );
    },
  );

  // Defect 1 of issue 14 (blind after a local restart: the local reconnect backoff kept the state
  // `stopped` for seconds after the follower was back, seen after 35-40 s outages). Long outages
  // of both, the strict bound for both.
  it(
    'after follower and leader outages, the state is reported within 2 intervals (defect 1)',
    { timeout: faultTestTimeoutMs },
    async () => {
      await killScenario(
        { leaderMs: 2 * intervalMs, followerMs: 2 * intervalMs },
        { leader: [20_000, 25_000], follower: [35_000, 40_000], rounds: 1 },
      );
    },
  );
});
