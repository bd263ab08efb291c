import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { onFaultCleanup } from './registry.js';

/**
 * An HTTP proxy on loopback in front of a real HTTP service (s3rver, a webhook receiver) that can
 * misbehave the way S3 and webhook endpoints do:
 *
 * - `pass`: forward every request.
 * - `error500`: answer 500 with an S3-style InternalError body (retryable for every SDK).
 * - `slow`: wait `delayMs` before forwarding.
 * - `hang`: read the request and never answer (a stuck load balancer).
 * - `down`: the port is closed: connection refused.
 *
 * `failFirst(n)` answers 500 to the next n requests only, then passes: "S3 flaps, then recovers".
 */
export type HttpFaultMode = 'pass' | 'error500' | 'slow' | 'hang' | 'down';

export interface HttpFaultProxy {
  url: string;
  port: number;
  /** Requests received, and how each was answered ('forwarded', '500', 'hung'). */
  log: Array<{ method: string; path: string; outcome: string }>;
  setMode(mode: HttpFaultMode, options?: { delayMs?: number }): Promise<void>;
  failFirst(count: number): void;
  close(): Promise<void>;
}

export async function startHttpFaultProxy(target: { host?: string; port: number }): Promise<HttpFaultProxy> {
  let mode: HttpFaultMode = 'pass';
  let delayMs = 0;
  let failures = 0;
  const log: HttpFaultProxy['log'] = [];
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const entry = { method: req.method ?? '?', path: req.url ?? '/', outcome: '' };
    log.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures > 0 || mode === 'error500') {
        if (failures > 0) failures -= 1;
        entry.outcome = '500';
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>' +
            '<Message>injected by the fault proxy</Message></Error>',
        );
        return;
      }
      if (mode === 'hang') {
        entry.outcome = 'hung';
        return;
      }
      const forward = (): void => {
        entry.outcome = 'forwarded';
        const upstream = request(
          {
            host: target.host ?? '127.0.0.1',
            port: target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        upstream.end(Buffer.concat(chunks));
      };
      if (mode === 'slow') setTimeout(forward, delayMs);
      else forward();
    });
  };

  let server = createServer(handler);
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  server.on('connection', track);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  const proxy: HttpFaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    async setMode(next, options = {}) {
      const previous = mode;
      mode = next;
      delayMs = options.delayMs ?? 2000;
      if (next === 'down') await stop();
      if (previous === 'down' && next !== 'down') {
        server = createServer(handler);
        server.on('connection', track);
        await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      }
      if (previous === 'hang' && next !== 'hang') for (const s of sockets) s.destroy();
    },
    failFirst(count) {
      failures = count;
    },
    close: stop,
  };
  onFaultCleanup(`http fault proxy :${port}`, stop);
  return proxy;
}
