import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { readStatus } from '../../../src/daemon/status-client.js';
import { evaluateCheck } from '../../../src/monitor/check.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { formatStatus } from '../../../src/monitor/status.js';
import { appendConf } from '../../../src/postgres/cluster.js';
import { cloneFollower, createLeader, pgTools, pgbench } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from './context.js';

const thresholds = {
  warnLagBytes: 64 * 1048576,
  critLagBytes: 1024 * 1048576,
  warnLagSeconds: 60,
  critLagSeconds: 300,
};

describe('catch-up ETA against real clusters', () => {
  it('a follower that was stopped: "not catching up" while replay is held, an ETA while it catches up, none once caught up', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const ctx = await supervisorContext(leader, follower, { slot: 'replica_a', intervalMs: 200 });
    // Ticks of 200 ms: rates over 400 ms at least, a hold after 1 s (the defaults scale with the interval).
    await using supervisor = await startSupervisor(ctx, {
      maxBackoffMs: 500,
      catchUp: { minSpanMs: 400, holdMs: 1000 },
    });
    const seen: Snapshot[] = [];
    supervisor.events.on('snapshot', (s) => seen.push(s));
    await waitFor('streaming', () => supervisor.latest()?.state === 'streaming', { timeoutMs: 30_000 });
    expect(supervisor.latest()?.catchUp ?? null).toBeNull();

    // The follower is down while the leader writes. It comes back with replay held behind the first
    // new commit (recovery_min_apply_delay), so the window sees replay standing still first; then the
    // hold is lifted and replay runs at full speed: the estimate must turn from "not catching up"
    // into an ETA, and go away once the follower is caught up.
    await follower.stop();
    await pgbench(leader, ['-i', '-s', '25']);
    // Set before the start (as ALTER SYSTEM would write it), so no backlog is replayed before the hold.
    await appendConf(await pgTools(), join(follower.dataDirectory, 'postgresql.auto.conf'), {
      recovery_min_apply_delay: '1h',
    });
    await follower.start();
    const held = await waitFor(
      'an estimate while replay is held',
      () => {
        const s = supervisor.latest();
        // Held for longer than holdMs: the window is the hold itself.
        return s?.state === 'catching-up' &&
          s.catchUp &&
          !s.catchUp.catchingUp &&
          s.catchUp.windowSeconds >= 1
          ? s
          : undefined;
      },
      {
        timeoutMs: 60_000,
        detail: () => `last: ${supervisor.latest()?.state} ${JSON.stringify(supervisor.latest()?.catchUp)}`,
      },
    );
    expect(held.catchUp).toMatchObject({ catchingUp: false, etaSeconds: null, limitedBy: 'replay' });
    const heldDoc = await readStatus(ctx, {});
    expect(heldDoc.source).toBe('supervisor');
    expect(heldDoc.catchUp?.text).toMatch(/^not catching up/);
    expect(formatStatus(heldDoc)).toMatch(/catch-up: not catching up/);

    // Everything must be received before the hold is lifted: while the receiver still streams the
    // backlog, the network is what limits catch-up (seen under load), and this test is about replay.
    await waitFor(
      'the backlog received while replay is held',
      () => {
        const behind = supervisor.latest()?.lag.receiveLagBytes;
        return behind !== null && behind !== undefined && behind < 1024n * 1024n;
      },
      {
        timeoutMs: 120_000,
        detail: () => `receive lag: ${String(supervisor.latest()?.lag.receiveLagBytes)}`,
      },
    );
    // Judge only what comes after the lift: before the hold took hold, replay ran through the
    // backlog's first records (the delay holds commit records only) while the receiver was still
    // fetching it, and an ETA limited by the network was right then.
    const liftedAt = seen.length;
    await follower.query('alter system reset recovery_min_apply_delay');
    await follower.query('select pg_reload_conf()');
    const caughtUp = await waitFor('streaming again', () => supervisor.latest()?.state === 'streaming', {
      timeoutMs: 120_000,
    });
    expect(caughtUp).toBe(true);
    const withEta = seen
      .slice(liftedAt)
      .filter((s) => s.catchUp?.catchingUp && s.catchUp.etaSeconds !== null);
    expect(withEta.length).toBeGreaterThan(0);
    const first = withEta[0]?.catchUp;
    expect(first?.etaSeconds).toBeGreaterThanOrEqual(0);
    expect(first?.replayBytesPerSecond).toBeGreaterThan(0);
    expect(first?.limitedBy).toBe('replay');
    // Once caught up the estimate is gone everywhere: snapshot, /status, status text, check line.
    expect(supervisor.latest()?.catchUp ?? null).toBeNull();
    const doc = await readStatus(ctx, {});
    expect(doc.state).toBe('streaming');
    expect(doc.catchUp).toBeNull();
    expect(formatStatus(doc)).not.toContain('catch-up');
    expect(evaluateCheck(doc, thresholds).line).not.toMatch(/caught up|catching up|catchup_eta/);

    await supervisor.stop('test over');
    await follower.stop();
    await leader.stop();
  });
});
