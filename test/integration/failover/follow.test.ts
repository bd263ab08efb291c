import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
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

describe('follow that fails after creating the slot', () => {
  it('names the slot it created on the new leader and how to drop it', async () => {
    const leader = await createLeader();
    const b = await cloneFollower(leader, { slot: 'node_b' });
    await b.stop();
    // A setting the server rejects at start: the follow fails after it created the slot.
    appendFileSync(join(b.dataDirectory, 'postgresql.conf'), "\nshared_buffers = 'not a size'\n");
    const config = await configFor(b, 'node_b', leader, { slot: { name: 'node_b_new' } });
    const failed = await run(['--config', config, 'follow', '--leader', leader.conninfo, '--yes']);
    expect(failed.code).toBe(1);
    expect(await b.isRunning()).toBe(false);
    expect(failed.text).toContain(
      `replication slot node_b_new was created on 127.0.0.1:${leader.port} for this node and is kept`,
    );
    expect(failed.text).toContain("SELECT pg_drop_replication_slot('node_b_new')");
    const slots = await leader.query<{ n: string }>(
      "select slot_name as n from pg_replication_slots where slot_name = 'node_b_new'",
    );
    expect(slots).toHaveLength(1);
    await leader.stop();
  });
});
