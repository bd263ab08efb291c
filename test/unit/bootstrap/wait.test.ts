import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { waitForStreaming } from '../../../src/bootstrap/wait.js';
import { type Context } from '../../../src/context.js';
import { PgFollowerError } from '../../../src/errors.js';
import { unitContext } from '../../helpers/context.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('waitForStreaming', () => {
  it('gives up at the deadline naming the timeline waited for, with the caller hint', async () => {
    const ctx: Context = unitContext({ node: { host: '127.0.0.1', port: await closedPort() } });
    const started = Date.now();
    const error = await waitForStreaming(ctx, { timeoutMs: 400, timeline: 3, hint: 'run rebuild' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PgFollowerError);
    expect((error as PgFollowerError).code).toBe('NOT_STREAMING');
    expect((error as PgFollowerError).message).toMatch(
      /did not stream on timeline 3 within .*receiver: unreachable/,
    );
    expect((error as PgFollowerError).hint).toBe('run rebuild');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
