import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

describe('test harness', () => {
  it('starts a real leader and a streaming follower, and stops them', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'harness_slot' });
    await leader.query('create table t(id int)');
    await leader.query('insert into t select generate_series(1, 100)');
    const rows = await waitFor('rows on follower', async () => {
      const r = await follower.query<{ n: string }>('select count(*) as n from t').catch(() => []);
      return r[0]?.n === '100' ? r : undefined;
    });
    expect(rows[0]?.n).toBe('100');
    const [recovery] = await follower.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    expect(recovery?.r).toBe(true);
    await follower.stop();
    await leader.stop();
    expect(await leader.isRunning()).toBe(false);
  });
});
