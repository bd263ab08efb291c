import pg from 'pg';
import { DatabaseUnavailableError } from '../errors.js';
import { describeConninfo, parseConninfo, toClientConfig } from './conninfo.js';

export type PgClient = pg.Client;

interface ConnectOptions {
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
  /**
   * Abort ends the connection attempt and any query in flight (node-postgres has no native signal
   * support, so the client is ended: pending queries reject with "Connection terminated"). A
   * connection that is still open later is ended too, so a signal bounds the client's whole life.
   */
  signal?: AbortSignal | undefined;
}

/** Connects with a libpq conninfo (either form); PG* variables and ~/.pgpass fill the gaps. */
export async function connect(conninfo: string, options: ConnectOptions = {}): Promise<PgClient> {
  let info: Record<string, string>;
  let config: pg.ClientConfig;
  try {
    info = parseConninfo(conninfo);
    // Reads sslrootcert/sslcert/sslkey files: a missing one is the operator's to fix, not a bug.
    config = toClientConfig(info, {
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: options.applicationName ?? info.application_name ?? 'pgfollower',
    });
  } catch (error) {
    throw new DatabaseUnavailableError(`invalid connection string: ${(error as Error).message}`, {
      hint: 'write libpq keyword=value pairs or a postgresql:// URI; sslrootcert, sslcert and sslkey must be readable files',
    });
  }
  if (options.queryTimeoutMs) config.query_timeout = options.queryTimeoutMs;
  if (options.replication) {
    (config as pg.ClientConfig & { replication?: string }).replication =
      options.replication === 'physical' ? 'true' : 'database';
  }
  const signal = options.signal;
  signal?.throwIfAborted();
  const client = new pg.Client(config);
  // An idle connection that breaks must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  boundEnd(client);
  const detach = signal ? endOnAbort(client, signal) : undefined;
  try {
    await connectUnlessAborted(client, signal);
  } catch (error) {
    detach?.();
    // After an abort the socket is already destroyed; a graceful end would wait for the server.
    if (signal?.aborted) throw signal.reason;
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

/** How long a graceful end may wait for the server before the socket is destroyed. */
const END_TIMEOUT_MS = 3000;

/**
 * Makes `client.end()` end within END_TIMEOUT_MS. node-postgres's end sends Terminate and waits for
 * the server to close: over a link that drops packets silently that is forever, and every command
 * that cleans up after a failed step (a bootstrap whose copy stalled) would hang in its `finally`.
 */
function boundEnd(client: pg.Client): void {
  const graceful = client.end.bind(client) as () => Promise<void>;
  const bounded = (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const destroyed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        client.connection.stream.destroy();
        resolve();
      }, END_TIMEOUT_MS);
    });
    const ending = graceful().catch(() => undefined);
    return Promise.race([ending, destroyed]).finally(() => clearTimeout(timer));
  };
  (client as { end: () => Promise<void> }).end = bounded;
}

/** Ends `client` when `signal` aborts; the listener goes when the client ends. Returns the detach. */
function endOnAbort(client: pg.Client, signal: AbortSignal): () => void {
  const onAbort = (): void => {
    client.end().catch(() => undefined);
  };
  const detach = (): void => signal.removeEventListener('abort', onAbort);
  signal.addEventListener('abort', onAbort, { once: true });
  client.once('end', detach);
  return detach;
}

/**
 * `client.connect()`, but an abort rejects at once and destroys the socket: node-postgres never
 * settles a connect that `end()` interrupted, and a graceful end of a half-open connection waits
 * for the server (up to the connect timeout).
 */
async function connectUnlessAborted(client: pg.Client, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) {
    await client.connect();
    return;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      client.connection.stream.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const connecting = client.connect();
  // Whichever loses the race must not become an unhandled rejection.
  connecting.catch(() => undefined);
  aborted.catch(() => undefined);
  try {
    await Promise.race([connecting, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
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
  } catch (error) {
    // The query failed because the abort ended the client: report the abort, not "Connection terminated".
    if (options.signal?.aborted) throw options.signal.reason;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SQLSTATE of a node-postgres DatabaseError, if it is one. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}
