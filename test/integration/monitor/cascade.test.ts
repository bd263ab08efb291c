import { describe, expect, it } from 'vitest';
import { buildStatus } from '../../../src/monitor/status.js';
import { takeSnapshot } from '../../../src/monitor/monitor.js';
import { cloneFollower, createLeader } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';

describe('a cascaded follower', () => {
  it('leader -> A -> C: rows written on the leader arrive on C, and C reports A as a standby upstream', async () => {
    const leader = await createLeader();
    const a = await cloneFollower(leader, { slot: 'node_a' });
    // pg_basebackup from a standby: C's primary_conninfo names A.
    // Its own slot on A: a clone of A would otherwise inherit A's primary_slot_name (node_a).
    const c = await cloneFollower(a, { slot: 'node_c' });
    try {
      await leader.query('create table t(id int primary key)');
      await leader.query('insert into t select generate_series(1, 100)');
      await waitFor('rows on C through A', async () => {
        const rows = await c.query<{ n: string }>('select count(*) as n from t').catch(() => []);
        return rows[0]?.n === '100';
      });
      const [sender] = await c.query<{ port: number }>(
        'select sender_port as port from pg_stat_wal_receiver',
      );
      expect(sender?.port).toBe(a.port);

      const ctx = await supervisorContext(a, c);
      const doc = await waitFor('C streaming from A in its status', async () => {
        const status = buildStatus(await takeSnapshot(ctx), 'direct');
        return status.state === 'streaming' ? status : undefined;
      });
      expect(doc.upstream).toEqual({ host: '127.0.0.1', port: a.port, isStandby: true, timeline: 1 });
      expect(JSON.stringify(doc.upstream)).not.toContain('password');
      expect(doc.lagBytes).toBe(0);
    } finally {
      await c.stop();
      await a.stop();
      await leader.stop();
    }
  });
});
