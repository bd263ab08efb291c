import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { cloneFollower, createLeader } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from './context.js';

const INTERVAL_MS = 1000;
/** Two intervals, plus what one tick itself may take on a loaded 2-core machine. */
const WITHIN_MS = 2 * INTERVAL_MS + 1000;

// Issue 14 defect 1: the local connection's backoff grew to 12-15 s, so a follower back after a
// restart was reported `stopped` for 10 s; after a leader restart the leader's backoff (up to 30 s)
// kept /replica?lag= at 503 while the WAL receiver already streamed. Every change, both ways, must be
// seen within 2 intervals. The supervisor runs with its default backoff here.
describe('the supervisor sees restarts within two intervals', () => {
  it('of the follower and of the leader, after long enough outages to grow any backoff', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader);
    const ctx = await supervisorContext(leader, follower, { intervalMs: INTERVAL_MS });
    await using supervisor = await startSupervisor(ctx, { http: false });
    const latest = (): Snapshot | undefined => supervisor.latest();
    const outage = async (what: string, down: (s: Snapshot) => boolean): Promise<void> => {
      // 15 s of ticks that see it down: a backoff doubling from one interval reaches its 15 s cap.
      let since: number | undefined;
      await waitFor(
        `15 s of ticks seeing ${what} down`,
        async () => {
          const s = latest();
          if (!s || !down(s)) return undefined;
          since ??= s.takenAt;
          return s.takenAt - since >= 15_000 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    };

    await waitFor('streaming', async () => latest()?.state === 'streaming' || undefined, {
      timeoutMs: 60_000,
    });

    // The follower: stopped, then back.
    await follower.stop();
    await outage('the local server', (s) => !s.local.ok);
    await follower.start();
    const back = Date.now();
    await waitFor('the supervisor to see the follower back', async () => latest()?.local.ok || undefined, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    expect(Date.now() - back).toBeLessThan(WITHIN_MS);

    // The leader: stopped, then back; the WAL receiver reconnects on its own schedule.
    await leader.stop();
    await outage('the leader', (s) => !s.leader.ok);
    await leader.start();
    await waitFor(
      'the WAL receiver to stream again',
      async () => {
        const [row] = await follower.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
        return row?.status === 'streaming' || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const streams = Date.now();
    const seen = await waitFor(
      'the supervisor to see the leader again',
      async () => {
        const s = latest();
        return s && s.leader.ok && s.takenAt >= streams ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(seen.takenAt - streams).toBeLessThan(WITHIN_MS);

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
