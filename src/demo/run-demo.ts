import { setTimeout as sleep } from 'node:timers/promises';
import { bootstrapFollower } from '../bootstrap/bootstrap.js';
import { restoreCommandFor } from '../archive/follower/restore-command.js';
import type { Context } from '../context.js';
import { collectPlugins } from '../app/plugins.js';
import { startSupervisor } from '../daemon/supervisor.js';
import { createExec, resolveRunAs } from '../exec/run.js';
import { buildStatus, formatStatus } from '../monitor/status.js';
import { findPgBinaries } from '../postgres/binaries.js';
import { connect, type PgClient } from '../postgres/client.js';
import { createSandbox, type Sandbox } from './sandbox.js';

interface DemoOptions {
  /** Stop by itself after this long; otherwise run until Ctrl-C. */
  durationMs?: number | undefined;
  /** Keep the sandbox directory (servers are stopped either way). */
  keep?: boolean;
  /** How often to print the status. */
  statusEveryMs?: number;
  /** Builds the follower's Context from the sandbox's config file (the CLI's global options applied). */
  contextFor(configFile: string): Promise<Context>;
}

/** Where the demo prints (src/cli/output.ts provides one). */
export interface DemoOutput {
  print(text: string): void;
}

interface DemoResult {
  sandbox: string;
  rowsWritten: number;
  rowsOnFollower: number;
  finalState: string | undefined;
}

/**
 * `pgfollower demo`: a sandbox leader with a local archive, a follower bootstrapped with the same
 * code path as `pgfollower bootstrap`, the supervisor with its HTTP API, and a small write load;
 * prints status until Ctrl-C (or --duration), then stops and removes everything it made.
 */
export async function runDemo(
  output: DemoOutput,
  signal: AbortSignal,
  options: DemoOptions,
): Promise<DemoResult> {
  const exec = createExec(await resolveRunAs('postgres'));
  const bin = await findPgBinaries({ binDir: process.env.PGFOLLOWER_BIN_DIR });
  output.print(
    'pgfollower demo: a sandbox leader and follower in a temp directory, with a local WAL archive.',
  );
  output.print(
    'It will: create a leader (initdb), bootstrap a follower with pgfollower bootstrap, start the',
  );
  output.print(
    'supervisor and its HTTP API, write a little load, and show status until Ctrl-C. Then it stops',
  );
  output.print('everything and removes the sandbox.');
  output.print('');
  const sandbox: Sandbox = await createSandbox(exec, bin, signal);
  output.print(`sandbox: ${sandbox.root}`);
  output.print(
    `leader:  127.0.0.1:${sandbox.leaderPort} (archiving to ${sandbox.archiveDirectory} with pgfollower wal-push)`,
  );

  let load: PgClient | undefined;
  let rowsWritten = 0;
  let rowsOnFollower: number;
  let finalState: string | undefined;
  try {
    const ctx = await options.contextFor(sandbox.configFile);
    const result = await bootstrapFollower(ctx, {
      restoreCommand: restoreCommandFor(ctx.config, { configFile: sandbox.configFile }),
    });
    output.print(
      `follower: 127.0.0.1:${sandbox.followerPort}, bootstrapped in ${(result.durationMs / 1000).toFixed(1)} s, slot ${result.slotName}, streaming`,
    );

    const plugins = await collectPlugins(ctx);
    await using supervisor = await startSupervisor(ctx, {
      services: plugins.services,
      archiveProbe: plugins.archiveProbe,
    });
    const address = supervisor.httpAddress();
    if (address) {
      output.print(
        `HTTP API: http://${address.host}:${address.port}/status  /replica?lag=16MB  /metrics  /health`,
      );
    }
    output.print(`try in another terminal: pgfollower --config ${sandbox.configFile} status`);
    output.print(
      options.durationMs ? `running for ${Math.round(options.durationMs / 1000)} s` : 'press Ctrl-C to stop',
    );
    output.print('');

    load = await connect(sandbox.leaderConninfo, { applicationName: 'pgfollower-demo-load', signal });
    await load.query(
      'CREATE TABLE IF NOT EXISTS demo_orders (id bigserial primary key, placed_at timestamptz default now(), note text)',
    );
    const until = options.durationMs ? ctx.clock.now() + options.durationMs : Number.POSITIVE_INFINITY;
    const statusEvery = options.statusEveryMs ?? 5000;
    let nextStatus = ctx.clock.now() + Math.min(2000, statusEvery);
    let nextSwitch = ctx.clock.now() + 15_000;
    while (!signal.aborted && ctx.clock.now() < until) {
      const inserted = await load.query(
        "INSERT INTO demo_orders (note) SELECT 'order ' || g FROM generate_series(1, 50) g",
      );
      rowsWritten += inserted.rowCount ?? 0;
      if (ctx.clock.now() >= nextSwitch) {
        // A segment switch sends a WAL file to the archive, so archiving shows up in the status.
        await load.query('SELECT pg_switch_wal()');
        nextSwitch = ctx.clock.now() + 15_000;
      }
      if (ctx.clock.now() >= nextStatus) {
        const snapshot = supervisor.latest();
        if (snapshot)
          output.print(
            `[${new Date(ctx.clock.now()).toISOString().slice(11, 19)}] ${formatStatus(buildStatus(snapshot, 'supervisor'))}\n`,
          );
        nextStatus = ctx.clock.now() + statusEvery;
      }
      await sleep(200, undefined, { signal }).catch(() => undefined);
    }
    finalState = supervisor.latest()?.state;
    // Not under `signal`: this runs after Ctrl-C too, to report the counts; the timeouts bound it.
    const follower = await connect(
      `host=${sandbox.root} port=${sandbox.followerPort} dbname=postgres user=${exec.runAs?.user ?? 'postgres'}`,
      { connectTimeoutMs: 5000, queryTimeoutMs: 5000 },
    );
    const stoppedAt = ctx.clock.now();
    try {
      // The load has stopped: give the follower a moment to replay the last commits, so the count
      // compares like with like (asynchronous replication is always a little behind).
      for (;;) {
        const [row] = (await follower.query<{ n: string }>('SELECT count(*) AS n FROM demo_orders')).rows;
        rowsOnFollower = Number(row?.n ?? 0);
        if (rowsOnFollower >= rowsWritten || signal.aborted || ctx.clock.now() - stoppedAt > 10_000) break;
        await sleep(200, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      await follower.end();
    }
    const caughtUp =
      rowsOnFollower >= rowsWritten
        ? `all of them, ${((ctx.clock.now() - stoppedAt) / 1000).toFixed(1)} s after the load stopped`
        : `after waiting ${((ctx.clock.now() - stoppedAt) / 1000).toFixed(1)} s`;
    output.print(
      `wrote ${rowsWritten} rows on the leader; the follower has ${rowsOnFollower} (${caughtUp}; state ${finalState ?? 'unknown'})`,
    );
  } finally {
    await load?.end().catch(() => undefined);
    // Printing can fail (stdout a closed pipe); stopping the servers and removing the sandbox must
    // happen regardless, so it comes first and nothing printed can throw before it.
    await sandbox.destroy({ keep: options.keep });
    safePrint(
      output,
      options.keep ? `servers stopped; kept ${sandbox.root}` : `servers stopped; removed ${sandbox.root}`,
    );
  }
  output.print(
    'next: on a real replica host, write /etc/pgfollower/pgfollower.yaml (see README), run pgfollower doctor, then pgfollower bootstrap, then systemctl enable --now pgfollower',
  );
  return { sandbox: sandbox.root, rowsWritten, rowsOnFollower, finalState };
}

function safePrint(output: DemoOutput, text: string): void {
  try {
    output.print(text);
  } catch {
    // stdout is gone (a closed pipe): nothing left to tell.
  }
}
