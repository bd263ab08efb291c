import { resolve } from 'node:path';
import type { Context } from '../context.js';
import { requireSetting } from '../config/required.js';
import { ExitCode, PgFollowerError } from '../errors.js';
import { localConninfo, withClient, type PgClient } from '../postgres/client.js';
import { readControlData, serverStatus, type PgTools } from '../postgres/cluster.js';
import { parseLsn, type Lsn } from '../postgres/lsn.js';
import { furthestLsn, readNodePosition, type NodePosition } from '../postgres/replica-state.js';
import { isStandbyDirectory } from '../postgres/standby-config.js';

/**
 * What promote, follow and rebuild need to know about this node before they act: where it stands
 * (running or stopped), which data directory is its own, and whether a conninfo the operator
 * passed reaches this very server.
 */

export interface LocalFacts {
  running: boolean;
  systemId: string;
  inRecovery: boolean;
  timeline: number;
  /** Furthest position replayed or received (running) / recorded in pg_control (stopped). */
  lsn: Lsn;
  /** Where the numbers came from, for the operator. */
  source: string;
  /**
   * Stopped and pg_control says "shut down": a primary that stopped cleanly (smart or fast), whose
   * WAL ends with the shutdown checkpoint at `lsn`. After a planned switchover it can follow the
   * new leader without pg_rewind.
   */
  cleanShutdown?: boolean;
}

/** The configured data directory, absolute; a usage error when it is not configured. */
export function requireDataDirectory(ctx: Context): string {
  return resolve(requireSetting(ctx.config.node.dataDirectory, 'node.dataDirectory'));
}

/** The running local server's position (one connection). */
export async function readLocalPosition(
  ctx: Context,
  options: { connectTimeoutMs: number } = { connectTimeoutMs: 10_000 },
): Promise<NodePosition> {
  return withClient(
    localConninfo(ctx.config.node),
    { signal: ctx.signal, connectTimeoutMs: options.connectTimeoutMs, queryTimeoutMs: 10_000 },
    readNodePosition,
  );
}

/** Reads where this node stands, from the running server or, when stopped, from pg_controldata. */
export async function readLocalFacts(
  ctx: Context,
  tools: PgTools,
  dataDirectory: string,
): Promise<LocalFacts> {
  const status = await serverStatus(tools, dataDirectory);
  if (status === 'no-data-directory') {
    throw new PgFollowerError(
      'NO_DATA_DIRECTORY',
      `${dataDirectory} is not a PostgreSQL data directory`,
      ExitCode.FAILED,
      {
        hint: 'run pgfollower bootstrap (or rebuild --clone) to create this follower',
      },
    );
  }
  if (status === 'running') {
    const position = await readLocalPosition(ctx);
    return {
      running: true,
      systemId: position.systemId,
      inRecovery: position.inRecovery,
      timeline: position.timeline,
      lsn: furthestLsn(position),
      source: position.inRecovery ? 'received/replayed' : 'current WAL position',
    };
  }
  const control = await readControlData(tools, dataDirectory);
  const lsns = [control['Minimum recovery ending location'], control['Latest checkpoint location']]
    .filter((v): v is string => !!v && /^[0-9A-F]+\/[0-9A-F]+$/i.test(v))
    .map(parseLsn);
  const timelines = [control["Min recovery ending loc's timeline"], control["Latest checkpoint's TimeLineID"]]
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return {
    running: false,
    systemId: control['Database system identifier'] ?? '',
    inRecovery: isStandbyDirectory(dataDirectory),
    timeline: Math.max(0, ...timelines),
    lsn: lsns.reduce((a, b) => (a > b ? a : b), 0n),
    source: 'pg_controldata (server stopped)',
    cleanShutdown: control['Database cluster state'] === 'shut down',
  };
}

/**
 * true when `conninfo` reaches the local server itself (same system and same postmaster start
 * time): following or rewinding from yourself is a typo, not a failover.
 */
export async function isSameServer(ctx: Context, conninfo: string): Promise<boolean> {
  const probe = async (target: string): Promise<string | undefined> =>
    withClient(target, { signal: ctx.signal, connectTimeoutMs: 3000, queryTimeoutMs: 3000 }, async (c) => {
      const row = (
        await c.query<{ id: string }>(
          `SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || pg_postmaster_start_time()::text AS id`,
        )
      ).rows[0];
      return row?.id;
    }).catch(() => undefined);
  const [local, remote] = await Promise.all([probe(localConninfo(ctx.config.node)), probe(conninfo)]);
  return local !== undefined && local === remote;
}

/** A server setting as this session sees it; null when it does not exist. */
export async function readSetting(client: PgClient, name: string): Promise<string | null> {
  const { rows } = await client.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name]);
  return rows[0]?.v ?? null;
}
