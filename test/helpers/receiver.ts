import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** performance.timeOrigin + performance.now() at arrival, ms. */
  at: number;
}

/**
 * A real HTTP receiver on 127.0.0.1 that records every POST. `respond` picks the status per
 * request (default 202), so tests can make a channel fail, recover or hang.
 */
export async function startReceiver(
  respond: (request: Received, index: number) => number | Promise<number> = () => 202,
): Promise<{
  url: string;
  received: Received[];
  close(): Promise<void>;
  waitFor(predicate: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
}> {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep raw text
      }
      const entry: Received = {
        path: req.url ?? '/',
        headers: req.headers,
        body,
        at: performance.timeOrigin + performance.now(),
      };
      const index = received.length;
      received.push(entry);
      for (const w of waiters) w();
      void Promise.resolve(respond(entry, index)).then((status) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status < 300 ? '{"status":"success"}' : '{"status":"error"}');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    waitFor(predicate, timeoutMs = 60_000) {
      return new Promise<Received>((resolve, reject) => {
        const check = (): boolean => {
          const hit = received.find(predicate);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `receiver: nothing matching arrived within ${timeoutMs} ms; got ${JSON.stringify(received.map((r) => r.body))}`,
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
  };
}
