import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { oldLeaderAddresses, probeOldLeaders } from '../../../../src/failover/promote/old-leader.js';

describe('old leader probing', () => {
  it('asks each host:port once, in the order given, and drops blanks', () => {
    expect(
      oldLeaderAddresses([
        'host=db1 port=5432 user=a',
        undefined,
        '  ',
        null,
        'host=db1 port=5432 user=b application_name=x',
        'host=db2 port=5432',
      ]),
    ).toEqual(['host=db1 port=5432 user=a', 'host=db2 port=5432']);
  });

  it('calls a closed port unreachable, never primary', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const [verdict] = await probeOldLeaders([`host=127.0.0.1 port=${port} password=secret`], 2000);
    expect(verdict?.state).toBe('unreachable');
    expect(verdict?.where).toBe(`127.0.0.1:${port}`);
    expect(verdict?.error ?? '').not.toContain('secret');
  });
});
