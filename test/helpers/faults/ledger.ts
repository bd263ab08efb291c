import { appendFileSync } from 'node:fs';
import { connect, type PgClient } from '../../../src/postgres/client.js';
import { waitFor } from '../wait.js';

/**
 * The "nothing lost" ledger: a writer commits one row per transaction on the leader and records
 * an id only after COMMIT returned (acknowledged to the client). After a fault and recovery,
 * every acknowledged id must be on the node under test. Errors during the fault are expected:
 * an id whose commit failed or never answered is not acknowledged and not counted.
 */
interface RowWriter {
  table: string;
  readonly acknowledged: readonly number[];
  readonly errors: number;
  /** Waits until at least `count` more rows were acknowledged (the writer makes progress). */
  waitForMore(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function createLedgerTable(conninfo: string, table: string): Promise<void> {
  const client = await connect(conninfo, { connectTimeoutMs: 5000 });
  try {
    await client.query(
      `create table if not exists ${table} (id bigint primary key, at timestamptz default now())`,
    );
  } finally {
    await client.end();
  }
}

export async function startRowWriter(
  conninfo: string,
  table: string,
  options: { pauseMs?: number; firstId?: number } = {},
): Promise<RowWriter> {
  await createLedgerTable(conninfo, table);
  const acknowledged: number[] = [];
  let errors = 0;
  let stopped = false;
  let next = options.firstId ?? 1;
  let client: PgClient | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        client ??= await connect(conninfo, { connectTimeoutMs: 2000, queryTimeoutMs: 5000 });
        const id = next++;
        await client.query(`insert into ${table}(id) values ($1)`, [id]);
        acknowledged.push(id);
      } catch {
        errors += 1;
        const dead = client;
        client = undefined;
        await dead?.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  })();
  return {
    table,
    get acknowledged() {
      return acknowledged;
    },
    get errors() {
      return errors;
    },
    async waitForMore(count, timeoutMs = 30_000) {
      const target = acknowledged.length + count;
      await waitFor(`the row writer to acknowledge ${count} more rows`, () => acknowledged.length >= target, {
        timeoutMs,
        intervalMs: 50,
        detail: () => `${acknowledged.length}/${target} rows acknowledged, ${errors} errors`,
      });
    },
    async stop() {
      stopped = true;
      await loop;
      await client?.end().catch(() => undefined);
    },
  };
}

/** Acknowledged ids missing on the node reached by `conninfo`. */
export async function missingRows(
  conninfo: string,
  table: string,
  acknowledged: readonly number[],
): Promise<number[]> {
  const client = await connect(conninfo, { connectTimeoutMs: 5000 });
  try {
    const { rows } = await client.query(`select id::int as id from ${table}`);
    const present = new Set(rows.map((r) => Number((r as { id: number }).id)));
    return acknowledged.filter((id) => !present.has(id));
  } finally {
    await client.end();
  }
}

/**
 * Counts for docs/reliability.md: each injected fault and whether its invariants held. Written to
 * $PGF_FAULT_REPORT (JSON lines) when set; `node dist/bench/fault-summary.js FILE` sums them.
 */

export function injectFault(
  step: string,
  fault: string,
): { survived(rowsLost?: number, note?: string): void } {
  write({ event: 'injected', step, fault });
  return {
    survived(rowsLost = 0, note) {
      write({ event: 'survived', step, fault, rowsLost, survived: rowsLost === 0, note });
    },
  };
}

function write(record: Record<string, unknown>): void {
  const file = process.env.PGF_FAULT_REPORT;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`);
}
