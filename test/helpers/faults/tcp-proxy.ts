import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { onFaultCleanup } from './registry.js';

/**
 * A TCP proxy on loopback between two real programs (follower -> leader, pgfollower -> S3,
 * pgfollower -> a webhook), with the faults a network does to them:
 *
 * - `pass`: bytes flow both ways.
 * - `cut`: every open connection is closed with FIN; new ones are accepted and closed at once.
 * - `reset`: every open connection gets a RST; new ones too.
 * - `blackhole`: nothing flows and nothing answers: no FIN, no RST (a dead router or a dropped
 *   route: the worst case, only application timeouts notice). Both sides of every connection
 *   are paused, so what was sent waits as a retransmitting network would hold it; new
 *   connections are accepted and then hear nothing until the mode changes. (A kernel-level
 *   blackhole, where TCP keepalives go unanswered too, is in netns.ts.)
 * - `slow`: every chunk is delayed by `delayMs` in both directions and the rate bounded.
 * - `down`: the listening port is closed (connection refused) until the mode changes.
 *
 * The proxy counts connections and bytes so a test can show its fault was really in the path.
 */
export type ProxyMode = 'pass' | 'cut' | 'reset' | 'blackhole' | 'slow' | 'down';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted since start. */
  readonly connections: number;
  /** Bytes forwarded towards the target and back. */
  readonly bytes: { up: number; down: number };
  setMode(mode: ProxyMode, options?: { delayMs?: number; bytesPerSecond?: number }): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(
  target: { host?: string; port: number },
  options: { host?: string; port?: number } = {},
): Promise<TcpProxy> {
  const host = options.host ?? '127.0.0.1';
  let mode: ProxyMode = 'pass';
  let delayMs = 0;
  let bytesPerSecond = Infinity;
  let connections = 0;
  const bytes = { up: 0, down: 0 };
  const pairs = new Set<Pair>();
  /** Connections accepted during a blackhole, connected upstream when it ends. */
  const held = new Set<Socket>();
  /** Every client socket still open, whatever its state: close() must not wait for any. */
  const accepted = new Set<Socket>();
  let closed = false;

  const forward = (from: Socket, to: Socket, direction: 'up' | 'down'): void => {
    // A chain of promises keeps chunk order when `slow` delays them.
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole') from.pause();
      chain = chain.then(async () => {
        if (mode === 'slow') {
          const wait =
            delayMs + (Number.isFinite(bytesPerSecond) ? (chunk.length / bytesPerSecond) * 1000 : 0);
          if (wait > 0) await sleep(wait);
        }
        while (mode === 'blackhole' && !to.destroyed) await sleep(50);
        if (to.destroyed) return;
        bytes[direction] += chunk.length;
        to.write(chunk);
      });
    });
  };

  const onConnection = (client: Socket): void => {
    connections += 1;
    accepted.add(client);
    client.on('close', () => accepted.delete(client));
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.end();
      return;
    }
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') {
      client.pause();
      held.add(client);
      client.on('close', () => held.delete(client));
      return;
    }
    connectUpstream(client);
  };

  const connectUpstream = (client: Socket): void => {
    const upstream = netConnect({ host: target.host ?? '127.0.0.1', port: target.port });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
    };
    client.on('close', () => {
      drop();
      if (mode !== 'blackhole') upstream.end();
    });
    upstream.on('close', () => {
      drop();
      if (mode !== 'blackhole') client.end();
    });
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const port = await listen(options.port ?? 0);
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  const proxy: TcpProxy = {
    host,
    port,
    get mode() {
      return mode;
    },
    get connections() {
      return connections;
    },
    bytes,
    async setMode(next, modeOptions = {}) {
      const previous = mode;
      mode = next;
      delayMs = modeOptions.delayMs ?? 200;
      bytesPerSecond = modeOptions.bytesPerSecond ?? Infinity;
      if (next === 'blackhole') {
        for (const p of pairs) {
          p.client.pause();
          p.upstream.pause();
        }
      }
      if (previous === 'blackhole' && next !== 'blackhole') {
        for (const p of pairs) {
          p.client.resume();
          p.upstream.resume();
        }
        for (const client of held) {
          held.delete(client);
          if (next === 'pass' || next === 'slow') {
            client.resume();
            connectUpstream(client);
          } else client.destroy();
        }
      }
      if (next === 'cut' || next === 'down') {
        for (const p of pairs) {
          p.client.end();
          p.upstream.end();
          // A half-closed peer that never answers the FIN would linger: destroy after a moment.
          setTimeout(() => {
            p.client.destroy();
            p.upstream.destroy();
          }, 500).unref();
        }
      }
      if (next === 'reset') {
        for (const p of pairs) {
          p.client.resetAndDestroy();
          p.upstream.resetAndDestroy();
        }
        pairs.clear();
      }
      if (next === 'down') {
        const closing = stopListening();
        for (const client of accepted) client.destroy();
        await closing;
      }
      if (previous === 'down' && next !== 'down' && !closed) {
        server = createServer(onConnection);
        await listen(port);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      for (const client of held) client.destroy();
      held.clear();
      for (const client of accepted) client.destroy();
      await stopListening();
    },
  };
  onFaultCleanup(`tcp proxy :${port}`, () => proxy.close());
  return proxy;
}
