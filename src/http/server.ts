import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseSize, sizeHint } from '../config/units.js';
import type { Registry } from 'prom-client';
import { bigintSafe } from '../util/json.js';
import { ExitCode, PgFollowerError } from '../errors.js';
import { parseDurationSeconds } from '../config/units.js';
import type { Logger } from '../logging/logger.js';
import type { Clock } from '../util/time.js';
import { buildStatus, servesItsRole } from '../monitor/status.js';
import type { Snapshot } from '../monitor/snapshot.js';

/**
 * The read-only HTTP API, in Patroni's spirit so an HAProxy `httpchk` can route reads:
 * GET, HEAD and OPTIONS alike (HAProxy templates copied from Patroni send `OPTIONS /replica`):
 *   GET /health     200 when the local server answers
 *   GET /liveness   200 while the supervisor loop ticks
 *   GET /readiness  200 for a primary or a replica that is receiving WAL
 *   GET /replica    200 for a running replica; ?lag=16MB&seconds=30 bound its lag
 *   GET /primary    200 when the local server is a primary
 *   GET /status     the status JSON
 *   GET /metrics    Prometheus text format
 * Anything else is 405. Bodies are JSON (`{ ok, reason, ... }`) so a human with curl sees why a
 * check failed; their types are those of the status document (byte counts are numbers).
 */
interface HttpServerOptions {
  listen: string;
  logger: Logger;
  latest(): Snapshot | undefined;
  /** ms of the last finished tick (local clock) and the interval, for /liveness. */
  lastTickAt(): number | undefined;
  intervalMs(): number;
  registry: Registry;
  /** The clock lastTickAt() is read on (the supervisor's ctx.clock). */
  clock: Clock;
}

export interface HttpServerHandle {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  if (!match) throw new Error(`http.listen "${listen}" is not host:port`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port: Number(match[3]) };
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const { host, port } = parseListen(options.listen);
  const logger = options.logger.child({ component: 'http' });
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      logger.error({ err: error }, 'HTTP handler failed; answering 500');
      if (!res.headersSent) send(res, req, 500, { ok: false, reason: 'internal error' });
      else res.end();
    });
  });
  // A slow or stuck client must not hold the daemon's shutdown.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 2_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new PgFollowerError(
          'HTTP_LISTEN',
          `cannot serve the HTTP API on ${options.listen}: ${error.code ?? error.message}`,
          ExitCode.FAILED,
          {
            cause: error,
            hint:
              error.code === 'EADDRINUSE'
                ? 'another process (another pgfollower run?) uses that port: stop it or set http.listen / --listen'
                : 'check http.listen (host:port of this machine) or disable the API with http.enabled: false / --no-http',
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  logger.info(
    { host: bound.address, port: bound.port },
    `HTTP API listening on ${bound.address}:${bound.port}`,
  );
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const allowed = 'GET, HEAD, OPTIONS';

async function handle(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') {
    res.setHeader('Allow', allowed);
    send(res, req, 405, { ok: false, reason: `read-only API: use ${allowed}` });
    return;
  }
  if (req.method === 'OPTIONS') res.setHeader('Allow', allowed);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const snapshot = options.latest();
  const path = url.pathname.replace(/\/+$/, '') || '/';
  switch (path) {
    case '/metrics': {
      const text = await options.registry.metrics();
      res.statusCode = 200;
      res.setHeader('Content-Type', options.registry.contentType);
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    case '/liveness': {
      const last = options.lastTickAt();
      const now = options.clock.now();
      // Three intervals plus slack: one slow tick (query timeout) is not death.
      const limit = options.intervalMs() * 3 + 10_000;
      const alive = last !== undefined && now - last <= limit;
      send(res, req, alive ? 200 : 503, {
        ok: alive,
        reason: alive ? 'supervisor ticking' : 'supervisor has not ticked recently',
        lastTickAgeMs: last === undefined ? null : now - last,
      });
      return;
    }
    case '/':
    case '/status':
      if (!snapshot) return notYet(res, req);
      send(res, req, 200, buildStatus(snapshot, 'supervisor'));
      return;
    case '/health':
      if (!snapshot) return notYet(res, req);
      send(res, req, snapshot.local.ok ? 200 : 503, verdict(snapshot, snapshot.local.ok));
      return;
    case '/readiness': {
      if (!snapshot) return notYet(res, req);
      const ready = servesItsRole(snapshot.state);
      send(res, req, ready ? 200 : 503, verdict(snapshot, ready));
      return;
    }
    case '/primary':
    case '/leader':
    case '/read-write':
      if (!snapshot) return notYet(res, req);
      send(
        res,
        req,
        snapshot.state === 'primary' ? 200 : 503,
        verdict(snapshot, snapshot.state === 'primary'),
      );
      return;
    case '/replica':
    case '/read-only': {
      if (!snapshot) return notYet(res, req);
      const bounds = parseReplicaBounds(url.searchParams);
      if ('error' in bounds) {
        send(res, req, 400, { ok: false, reason: bounds.error });
        return;
      }
      const result = replicaVerdict(snapshot, bounds);
      send(res, req, result.ok ? 200 : 503, { ...verdict(snapshot, result.ok), reason: result.reason });
      return;
    }
    default:
      send(res, req, 404, {
        ok: false,
        reason: 'unknown path; try /health /liveness /readiness /replica /primary /status /metrics',
      });
  }
}

interface ReplicaBounds {
  lagBytes?: number;
  lagSeconds?: number;
}

/** `lag` takes a size (16MB, or bytes like Patroni); `seconds` seconds (30) or a duration (30s, 5m). */
export function parseReplicaBounds(params: URLSearchParams): ReplicaBounds | { error: string } {
  const out: ReplicaBounds = {};
  const lag = params.get('lag');
  if (lag !== null) {
    const parsed = parseSize(lag);
    if (parsed === undefined) return { error: `lag="${lag}" is not a size; ${sizeHint}` };
    out.lagBytes = parsed;
  }
  const seconds = params.get('seconds');
  if (seconds !== null) {
    const parsed = parseDurationSeconds(seconds);
    if (parsed === undefined)
      return { error: `seconds="${seconds}" is not a duration; write e.g. 30, 30s or 5m` };
    out.lagSeconds = parsed;
  }
  return out;
}

/**
 * 200 only for a running replica within the bounds. Unknown lag (leader unreachable) fails a bound:
 * a router should not send reads to a replica whose staleness nobody can measure.
 */
export function replicaVerdict(snapshot: Snapshot, bounds: ReplicaBounds): { ok: boolean; reason: string } {
  if (!snapshot.local.ok) return { ok: false, reason: `local server not running: ${snapshot.local.error}` };
  if (!snapshot.local.value.inRecovery) return { ok: false, reason: 'this node is a primary, not a replica' };
  if (snapshot.state === 'stalled') return { ok: false, reason: `stalled: ${snapshot.reason}` };
  const { replayLagBytes, replayLagSeconds } = snapshot.lag;
  if (bounds.lagBytes !== undefined) {
    if (replayLagBytes === null) return { ok: false, reason: 'lag in bytes unknown (leader unreachable)' };
    if (replayLagBytes > BigInt(bounds.lagBytes))
      return { ok: false, reason: `replay lag ${replayLagBytes} bytes exceeds ${bounds.lagBytes}` };
  }
  if (bounds.lagSeconds !== undefined) {
    if (replayLagSeconds === null)
      return { ok: false, reason: 'lag in seconds unknown (leader unreachable)' };
    if (replayLagSeconds > bounds.lagSeconds)
      return {
        ok: false,
        reason: `replay lag ${replayLagSeconds.toFixed(1)}s exceeds ${bounds.lagSeconds}s`,
      };
  }
  return { ok: true, reason: `replica, ${snapshot.state}` };
}

function verdict(snapshot: Snapshot, ok: boolean): Record<string, unknown> {
  return {
    ok,
    state: snapshot.state,
    reason: snapshot.reason,
    lagBytes: snapshot.lag.replayLagBytes === null ? null : Number(snapshot.lag.replayLagBytes),
    replayLagSeconds: snapshot.lag.replayLagSeconds,
  };
}

function notYet(res: ServerResponse, req: IncomingMessage): void {
  send(res, req, 503, { ok: false, reason: 'no snapshot yet: the supervisor is starting' });
}

function send(res: ServerResponse, req: IncomingMessage, status: number, body: unknown): void {
  const text = JSON.stringify(body, bigintSafe);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(req.method === 'HEAD' ? undefined : text);
}
