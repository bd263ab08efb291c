import type { Context } from '../context.js';
import { parseListen } from '../http/server.js';
import { takeSnapshot } from '../monitor/monitor.js';
import { buildStatus, type StatusDocument } from '../monitor/status.js';
import { withDeadline } from '../util/deadline.js';

/**
 * The status document from the running supervisor's HTTP API when it answers, else from a one-shot
 * snapshot taken here. Short commands (status, check) never duplicate the daemon's work when it is up.
 */
export async function readStatus(
  ctx: Context,
  options: { httpTimeoutMs?: number; direct?: boolean } = {},
): Promise<StatusDocument> {
  if (!options.direct && ctx.config.http.enabled) {
    const fromDaemon = await fetchFromDaemon(ctx, options.httpTimeoutMs ?? 1500);
    if (fromDaemon) return fromDaemon;
  }
  ctx.logger.debug('no supervisor answered; taking a snapshot directly');
  return buildStatus(await takeSnapshot(ctx, { twoSamples: true }), 'direct');
}

/** The running supervisor's status document, or undefined when none answers on http.listen. */
export async function readSupervisorStatus(
  ctx: Context,
  timeoutMs = 1500,
): Promise<StatusDocument | undefined> {
  return ctx.config.http.enabled ? fetchFromDaemon(ctx, timeoutMs) : undefined;
}

async function fetchFromDaemon(ctx: Context, timeoutMs: number): Promise<StatusDocument | undefined> {
  const { host, port } = parseListen(ctx.config.http.listen);
  // A wildcard listen address is reached over loopback.
  const target =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  try {
    const doc = await withDeadline(ctx.signal, timeoutMs, async (signal) => {
      const response = await fetch(`http://${target}:${port}/status`, { signal });
      return response.ok ? ((await response.json()) as StatusDocument) : undefined;
    });
    if (doc === undefined) return undefined;
    // Something else may listen on that port: accept only our document.
    if (typeof doc.state !== 'string' || typeof doc.node !== 'string') return undefined;
    return { ...doc, source: 'supervisor' };
  } catch {
    return undefined;
  }
}
