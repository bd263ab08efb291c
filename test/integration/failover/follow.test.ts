import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, waitFor } from '../../helpers/cluster.js';
import { configFor, run } from './nodes.js';

describe('follow a stopped follower', () => {
  it('writes primary_conninfo offline, starts the server and waits until it streams', async () => {
    const leader = await createLeader();
    const b = await cloneFollower(leader, { slot: 'node_b' });
    await b.stop();
    await leader.query('create table t(id int)');
    const config = await configFor(b, 'node_b', leader);
    const followed = await run(['--config', config, 'follow', '--leader', leader.conninfo, '--yes']);
    expect(followed.text).toContain('pg_controldata (server stopped)');
    expect(followed.text).toMatch(/streaming on timeline 1, .*server \(re\)started/);
    expect(followed.code).toBe(0);
    expect(await b.isRunning()).toBe(true);
    await waitFor(
      'table on b',
      async () => (await b.query("select 1 from pg_class where relname = 't'")).length === 1,
    );
    const [app] = await leader.query<{ n: string }>('select application_name as n from pg_stat_replication');
    expect(app?.n).toBe('node_b');
    await b.stop();
    await leader.stop();
  });
});
