import { computeBackoffMs } from '../util/backoff.js';
import type { Clock } from '../context.js';
import { connect, sqlState, type PgClient } from '../postgres/client.js';
import type { Sourced } from './snapshot.js';

interface PersistentConnectionOptions {
  /** For messages: "leader", "local server". */
  name: string;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  applicationName: string;
  baseBackoffMs: number;
  maxBackoffMs: number;
  clock: Clock;
}

export type Attempt<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      error: string;
      code?: string | undefined;
      /** false when no attempt was made because the backoff delay has not passed. */
      attempted: boolean;
      retryInMs: number;
      retryClass: RetryClass;
    };

/**
 * One persistent connection that reconnects with backoff. The monitor keeps one for the local
 * server and one for the leader, so a tick costs a query, not a connection. Any failure closes
 * the connection (a timed-out query may leave it busy) and the next attempt waits out the backoff;
 * ticks in between report the last error without touching the server.
 */
export class PersistentConnection {
  private client: PgClient | undefined;
  private conninfo: string | undefined;
  private failures = 0;
  private nextAttemptAt = 0;
  private lastError: { error: string; code?: string | undefined; retryClass: RetryClass } | undefined;

  constructor(private readonly options: PersistentConnectionOptions) {}

  /**
   * Runs `fn` on the connection, connecting first when needed. `signal` ends a connect or query in
   * flight; a connection opened under it stays bound to it until it closes (the monitor passes the
   * supervisor's signal, the same on every tick).
   */
  async use<T>(
    conninfo: string,
    fn: (client: PgClient) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<Attempt<T>> {
    const now = this.options.clock.now();
    if (conninfo !== this.conninfo) {
      await this.close();
      this.conninfo = conninfo;
      this.nextAttemptAt = 0;
    }
    if (!this.client && now < this.nextAttemptAt && this.lastError) {
      return { ok: false, attempted: false, retryInMs: this.nextAttemptAt - now, ...this.lastError };
    }
    const established = this.client !== undefined;
    try {
      if (!this.client) {
        this.client = await connect(conninfo, {
          connectTimeoutMs: this.options.connectTimeoutMs,
          // The client-side bound is a backstop; statement_timeout below is what the server enforces.
          queryTimeoutMs: this.options.queryTimeoutMs + 1000,
          applicationName: this.options.applicationName,
          signal,
        });
        await this.client.query(
          `set statement_timeout = ${Math.max(1, Math.round(this.options.queryTimeoutMs))}`,
        );
      }
      const value = await fn(this.client);
      this.failures = 0;
      this.lastError = undefined;
      return { ok: true, value };
    } catch (error) {
      await this.close();
      const retryClass = classifyRetry(error);
      const attempt = retryClass === 'needs-operator' ? 30 : this.failures;
      this.failures++;
      const retryInMs = computeBackoffMs(attempt, {
        baseMs: this.options.baseBackoffMs,
        maxMs: this.options.maxBackoffMs,
      });
      this.nextAttemptAt = this.options.clock.now() + retryInMs;
      const code = sqlState(error) ?? sqlState((error as { cause?: unknown }).cause) ?? errnoCode(error);
      // node-postgres says "Client has encountered a connection error..." when an open connection
      // broke: say plainly that the server went away.
      const text =
        established && sqlState(error) === undefined
          ? `connection lost (${describe(error)})`
          : describe(error);
      this.lastError = { error: text, code, retryClass };
      return { ok: false, attempted: true, retryInMs, ...this.lastError };
    }
  }

  /** True while no connection is open and the next attempt waits for its backoff. */
  waitingToRetry(): boolean {
    return !this.client && this.lastError !== undefined && this.options.clock.now() < this.nextAttemptAt;
  }

  /** The next use() tries at once, whatever the backoff said (the source is known to be back). */
  retryNow(): void {
    this.nextAttemptAt = 0;
  }

  /** Whether the last attempt failed; for "back again" log lines. */
  get failing(): boolean {
    return this.lastError !== undefined;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}

export function toSourced<T>(attempt: Attempt<T>): Sourced<T> {
  return attempt.ok ? attempt : { ok: false, error: attempt.error, code: attempt.code };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errnoCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let i = 0; i < 3 && current; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export type RetryClass = 'transient' | 'needs-operator';

/**
 * What is worth retrying quickly. Everything is retried (a daemon must outlive a broken leader),
 * but errors only an operator can fix (bad password, missing database, permissions) are logged
 * as errors with a hint and retried at the longest delay.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export function classifyRetry(error: unknown): RetryClass {
  const state = sqlState(error) ?? sqlState((error as { cause?: unknown } | null)?.cause);
  if (state !== undefined) {
    // 28: invalid authorization; 3D000: no such database; 42501: insufficient privilege.
    if (state.startsWith('28') || state === '3D000' || state === '42501') return 'needs-operator';
  }
  return 'transient';
}
