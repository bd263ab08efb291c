import pg from 'pg';
import { DatabaseUnavailableError } from '../errors.js';
import { describeConninfo, parseConninfo, toClientConfig } from './conninfo.js';

export type PgClient = pg.Client;

export interface ConnectOptions {
  /**
   * 'database' opens a walsender connection that also accepts SQL (IDENTIFY_SYSTEM etc.);
   * 'physical' a plain physical walsender, the kind pg_basebackup and a standby open: only it is
   * matched by pg_hba.conf's `replication` keyword.
   */
  replication?: 'database' | 'physical' | undefined;
  connectTimeoutMs?: number;
  /** Per-statement bound; a query never hangs a tick forever. */
  queryTimeoutMs?: number;
  applicationName?: string;
}

/** Connects with a libpq conninfo (either form); PG* variables and ~/.pgpass fill the gaps. */
export async function connect(conninfo: string, options: ConnectOptions = {}): Promise<PgClient> {
  let info: Record<string, string>;
  try {
    info = parseConninfo(conninfo);
  } catch (error) {
    throw new DatabaseUnavailableError(`invalid connection string: ${(error as Error).message}`, {
      hint: 'write libpq keyword=value pairs or a postgresql:// URI',
    });
  }
  const config = toClientConfig(info, {
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    application_name: options.applicationName ?? info.application_name ?? 'pgfollower',
  });
  if (options.queryTimeoutMs) config.query_timeout = options.queryTimeoutMs;
  if (options.replication) {
    (config as pg.ClientConfig & { replication?: string }).replication =
      options.replication === 'physical' ? 'true' : 'database';
  }
  const client = new pg.Client(config);
  // An idle connection that breaks must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new DatabaseUnavailableError(
      `cannot connect to ${describeConninfo(conninfo)}: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'check that the server runs, the address and port, pg_hba.conf, and the password (~/.pgpass)',
      },
    );
  }
  return client;
}

/** Conninfo for the local server over its socket directory or host. */
export function localConninfo(node: {
  host: string;
  port: number;
  user?: string | undefined;
  database: string;
}): string {
  const parts = [`host=${node.host}`, `port=${node.port}`, `dbname=${node.database}`];
  if (node.user) parts.push(`user=${node.user}`);
  return parts.join(' ');
}

export async function withClient<T>(
  conninfo: string,
  options: ConnectOptions,
  fn: (client: PgClient) => Promise<T>,
): Promise<T> {
  const client = await connect(conninfo, options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SQLSTATE of a node-postgres DatabaseError, if it is one. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}
