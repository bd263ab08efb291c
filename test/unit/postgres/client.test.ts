import { getEventListeners } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, withClient } from '../../../src/postgres/client.js';

// A TCP server on loopback that accepts and never answers: a connect to it only ends by timeout or abort.
let server: Server | undefined;
const sockets = new Set<Socket>();
async function silentServer(): Promise<number> {
  server = createServer((socket) => {
    sockets.add(socket);
    // Read (and drop) what the client sends, so the socket notices when the client goes away.
    socket.resume();
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('connect with an AbortSignal', () => {
  it('an abort ends a connection attempt that would otherwise wait for its 30 s timeout', async () => {
    const port = await silentServer();
    const controller = new AbortController();
    const reason = new Error('stopping');
    const started = performance.now();
    const attempt = connect(`host=127.0.0.1 port=${port} user=x dbname=x`, {
      connectTimeoutMs: 30_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 100);
    await expect(attempt).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // The socket the attempt opened is closed, not left to the timeout.
    await expect.poll(() => sockets.size, { timeout: 5_000 }).toBe(0);
  });

  it('an already aborted signal makes no connection at all', async () => {
    const port = await silentServer();
    let accepted = 0;
    server?.on('connection', () => accepted++);
    const reason = new Error('already stopped');
    await expect(
      withClient(`host=127.0.0.1 port=${port} user=x dbname=x`, { signal: AbortSignal.abort(reason) }, () =>
        Promise.resolve(1),
      ),
    ).rejects.toBe(reason);
    expect(accepted).toBe(0);
  });
});
