import { Writable } from 'node:stream';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { SupervisorService } from '../../../src/daemon/types.js';
import { createLogger, createSilentLogger } from '../../../src/logging/logger.js';
import { pgTools } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

/** A supervisor whose servers are absent (closed ports): the lifecycle without any PostgreSQL. */
async function lonelyContext(signal?: AbortSignal): Promise<Context> {
  const tools = await pgTools();
  const dead = await getPort();
  return {
    config: loadConfig({
      env: {},
      overrides: {
        node: { name: 'replica_a', port: dead, host: '127.0.0.1', user: 'postgres' },
        leader: { conninfo: `host=127.0.0.1 port=${dead} user=postgres`, connectTimeoutMs: 500 },
        monitor: { intervalMs: 100 },
        http: { listen: `127.0.0.1:${await getPort()}` },
      },
    }),
    logger: createSilentLogger(),
    exec: tools.exec,
    bin: tools.bin,
    clock: systemClock,
    signal: signal ?? new AbortController().signal,
    reporter: silentReporter,
  };
}

describe('supervisor lifecycle', () => {
  it('keeps ticking with both servers away, reporting stopped and retrying with backoff', async () => {
    await using supervisor = await startSupervisor(await lonelyContext(), { maxBackoffMs: 400 });
    expect(supervisor.latest()?.state).toBe('stopped');
    const unreachable: number[] = [];
    supervisor.events.on('leader:unreachable', ({ retryInMs }) => unreachable.push(retryInMs));
    await waitFor('three leader retries', async () => unreachable.length >= 3, { timeoutMs: 20_000 });
    expect(Math.max(...unreachable)).toBeLessThanOrEqual(400);
    const address = supervisor.httpAddress();
    const health = await fetch(`http://127.0.0.1:${address?.port ?? 0}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { state: string }).state).toBe('stopped');
  });

  it('logs a connection failure once at warn, not at every tick', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    const ctx = await lonelyContext();
    const logger = createLogger({ level: 'debug', format: 'json', destination });
    await using supervisor = await startSupervisor({ ...ctx, logger }, { http: false, maxBackoffMs: 200 });
    let ticks = 0;
    supervisor.events.on('snapshot', () => ticks++);
    await waitFor('ten ticks', async () => ticks >= 10, { timeoutMs: 20_000 });
    const warned = (what: RegExp): number => lines.filter((l) => l.level === 40 && what.test(l.msg)).length;
    const debugged = (what: RegExp): number => lines.filter((l) => l.level === 20 && what.test(l.msg)).length;
    expect(warned(/^local server unreachable/)).toBe(1);
    expect(warned(/^leader unreachable/)).toBe(1);
    // The repeats are still there for whoever turns debug on.
    expect(debugged(/^local server unreachable/)).toBeGreaterThanOrEqual(5);
  });

  it('a throwing subscriber does not stop the ticks', async () => {
    await using supervisor = await startSupervisor(await lonelyContext(), { http: false });
    supervisor.events.on('snapshot', () => {
      throw new Error('buggy subscriber');
    });
    let ticks = 0;
    supervisor.events.on('snapshot', () => ticks++);
    await waitFor('ticks go on', async () => ticks >= 3, { timeoutMs: 10_000 });
  });

  it('starts services after the first snapshot, stops them in reverse, bounds a stuck one', async () => {
    const order: string[] = [];
    const service = (name: string, stop: () => Promise<void>): SupervisorService => ({
      name,
      start(handle) {
        order.push(`start ${name} ${handle.latest() ? 'with snapshot' : 'without'}`);
        return { stop: async () => (order.push(`stop ${name}`), stop()) };
      },
    });
    const supervisor = await startSupervisor(await lonelyContext(), {
      http: false,
      services: [service('a', async () => undefined), service('stuck', () => new Promise(() => undefined))],
    });
    const started = Date.now();
    await supervisor.stop('test');
    await supervisor.done;
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(order).toEqual(['start a with snapshot', 'start stuck with snapshot', 'stop stuck', 'stop a']);
  });

  it('a service that fails to start stops the supervisor and reports why', async () => {
    const ctx = await lonelyContext();
    await expect(
      startSupervisor(ctx, {
        services: [
          {
            name: 'broken',
            start: () => {
              throw new Error('misconfigured plug-in');
            },
          },
        ],
      }),
    ).rejects.toThrow(/misconfigured plug-in/);
    // The HTTP port was released: a new supervisor can bind it.
    await using again = await startSupervisor(ctx, {});
    expect(again.httpAddress()?.port).toBeGreaterThan(0);
  });

  it('stops when the context signal aborts (SIGTERM in pgfollower run)', async () => {
    const controller = new AbortController();
    const supervisor = await startSupervisor(await lonelyContext(controller.signal), { http: false });
    const reasons: string[] = [];
    supervisor.events.on('supervisor:stopping', ({ reason }) => reasons.push(reason));
    controller.abort(new Error('received SIGTERM'));
    await supervisor.done;
    expect(reasons).toEqual(['received SIGTERM']);
  });
});
