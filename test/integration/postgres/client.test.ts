import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLeader } from '../../helpers/cluster.js';
import { connect, withClient } from '../../../src/postgres/client.js';

describe('pg connections under an AbortSignal (real server)', () => {
  it('an abort ends a query in flight and reports the abort reason', async () => {
    const leader = await createLeader();
    try {
      const controller = new AbortController();
      const reason = new Error('supervisor stopping');
      const started = performance.now();
      const query = withClient(leader.conninfo, { signal: controller.signal }, (c) =>
        c.query('SELECT pg_sleep(60)'),
      );
      setTimeout(() => controller.abort(reason), 300);
      await expect(query).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      await leader.stop('immediate');
    }
  });

  it('a client from connect() is ended by a later abort, and its listener goes when it ends first', async () => {
    const leader = await createLeader();
    try {
      const controller = new AbortController();
      const client = await connect(leader.conninfo, { signal: controller.signal });
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      controller.abort(new Error('stop'));
      await ended;
      await expect(client.query('SELECT 1')).rejects.toThrow();

      const second = new AbortController();
      const other = await connect(leader.conninfo, { signal: second.signal });
      expect(getEventListeners(second.signal, 'abort')).toHaveLength(1);
      await other.end();
      expect(getEventListeners(second.signal, 'abort')).toHaveLength(0);
    } finally {
      await leader.stop('immediate');
    }
  });
});
