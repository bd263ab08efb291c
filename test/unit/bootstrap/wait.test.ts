import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { waitForStreaming } from '../../../src/bootstrap/wait.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { PgFollowerError } from '../../../src/errors.js';
import { createExec } from '../../../src/exec/run.js';
import { createSilentLogger } from '../../../src/logging/logger.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('waitForStreaming', () => {
  it('gives up at the deadline naming the timeline waited for, with the caller hint', async () => {
    const ctx: Context = {
      config: loadConfig({ overrides: { node: { host: '127.0.0.1', port: await closedPort() } }, env: {} }),
      logger: createSilentLogger(),
      exec: createExec(undefined),
      bin: { binDir: '', major: 15, path: () => '/nonexistent' },
      clock: systemClock,
      signal: new AbortController().signal,
      reporter: silentReporter,
    };
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
