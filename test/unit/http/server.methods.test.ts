import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisorMetrics } from '../../../src/http/metrics.js';
import { startHttpServer, type HttpServerHandle } from '../../../src/http/server.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { systemClock } from '../../../src/context.js';
import type { Snapshot } from '../../../src/monitor/snapshot.js';
import { previousSnapshot, unclassified } from '../monitor/fixtures.js';

let server: HttpServerHandle | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(snapshot: Snapshot): Promise<string> {
  server = await startHttpServer({
    listen: '127.0.0.1:0',
    logger: createSilentLogger(),
    latest: () => snapshot,
    lastTickAt: () => Date.now(),
    clock: systemClock,
    intervalMs: () => 1000,
    registry: createSupervisorMetrics().registry,
  });
  return `http://127.0.0.1:${server.address.port}`;
}

describe('HTTP API methods and JSON types', () => {
  it('answers OPTIONS like GET (the Patroni HAProxy template) and HEAD without a body', async () => {
    const base = await serve(
      previousSnapshot(unclassified({ lag: { replayLagBytes: 4n * 1048576n } }), 'catching-up'),
    );
    for (const method of ['GET', 'OPTIONS', 'HEAD']) {
      const within = await fetch(`${base}/replica?lag=16MB`, { method });
      expect(within.status, method).toBe(200);
      const beyond = await fetch(`${base}/replica?lag=1MB`, { method });
      expect(beyond.status, method).toBe(503);
      const body = await beyond.text();
      if (method === 'HEAD') expect(body).toBe('');
      else expect(JSON.parse(body)).toMatchObject({ ok: false, lagBytes: 4 * 1048576 });
    }
    const options = await fetch(`${base}/replica`, { method: 'OPTIONS' });
    expect(options.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    const post = await fetch(`${base}/replica`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await fetch(`${base}/replica?seconds=30s`)).status).toBe(200);
    expect((await fetch(`${base}/replica?seconds=later`)).status).toBe(400);
  });

  it('gives lagBytes the same type (a number) in /replica, /health and /status; /status has ok', async () => {
    const base = await serve(
      previousSnapshot(
        unclassified({ lag: { replayLagBytes: 123456n, receiveLagBytes: 100n } }),
        'streaming',
      ),
    );
    const replica = (await (await fetch(`${base}/replica`)).json()) as Record<string, unknown>;
    const health = (await (await fetch(`${base}/health`)).json()) as Record<string, unknown>;
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    expect(replica.lagBytes).toBe(123456);
    expect(health.lagBytes).toBe(123456);
    expect(status.lagBytes).toBe(123456);
    expect(status.receiveLagBytes).toBe(100);
    expect(status.ok).toBe(true);
    expect(status.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it('/status says ok: false for a stalled replica while still answering 200', async () => {
    const base = await serve(previousSnapshot(unclassified({}), 'stalled'));
    const response = await fetch(`${base}/status`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { ok: boolean }).ok).toBe(false);
  });
});
