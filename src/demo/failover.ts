import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import type { DemoOutput as Output } from './run-demo.js';
import { formatBytes } from '../config/units.js';
import { createExec, indent, resolveRunAs } from '../exec/run.js';
import { findPgBinaries } from '../postgres/binaries.js';
import { connect, type PgClient } from '../postgres/client.js';
import { startServer, stopServer } from '../postgres/cluster.js';
import { openArchiveStore } from '../archive/store/open-store.js';
import { startPrefetcher } from '../archive/follower/prefetch.js';
import { spoolDirectoryFor } from '../archive/follower/spool.js';
import type { Context } from '../context.js';
import { shellQuote } from '../util/shell.js';
import { createSandbox, type Sandbox } from './sandbox.js';
import {
  replayPosition,
  seconds,
  startWriter,
  waitUntil,
  watch,
  type DemoNode,
  type Writer,
} from './failover-load.js';

/**
 * `pgfollower demo --scenario failover`: a whole incident in the sandbox, played with the commands
 * an operator types (each printed, then run in this process), ending with measured RTO and RPO.
 *
 * Leader with a WAL archive and synchronous_standby_names = 'ANY 1 (replica_a, replica_b)' (a
 * commit is acknowledged once a follower has it: without that, an asynchronous failover may lose
 * the last commits by design). replica_b has no slot; it is stopped while the leader writes and
 * recycles WAL, and catches up from the archive. Then the leader dies (immediate stop), the most
 * advanced follower is promoted with `promote`, the other one `follow`s it and the old leader is
 * `rebuild`-t as a follower. RTO: leader death to the first write the new leader accepts, and to
 * every node following it. RPO: rows whose INSERT was acknowledged before the death but are
 * missing on the new leader.
 */
interface FailoverDemoOptions {
  keep?: boolean;
  /** Runs one pgfollower command line in this process, each line of its output through `print`. */
  invoke(argv: readonly string[], print: (text: string) => void): Promise<number>;
  /** The Context of a command run with this config file (for the prefetcher `pgfollower run` would start). */
  contextFor(configFile: string): Promise<Context>;
}

interface FailoverDemoResult {
  sandbox: string;
  newLeader: string;
  rtoFirstWriteMs: number;
  rtoAllFollowingMs: number;
  acknowledgedRows: number;
  lostRows: number;
}

export async function runFailoverDemo(
  output: Output,
  signal: AbortSignal,
  options: FailoverDemoOptions,
): Promise<FailoverDemoResult> {
  const exec = createExec(await resolveRunAs('postgres'));
  const bin = await findPgBinaries({ binDir: process.env.PGFOLLOWER_BIN_DIR });
  const user = exec.runAs?.user ?? 'postgres';
  output.print('pgfollower demo --scenario failover: an incident played in a sandbox, start to finish.');
  output.print(
    'A leader archiving its WAL, two followers under load; one falls behind and catches up from the',
  );
  output.print(
    'archive; the leader dies; the most advanced follower is promoted, the other follows it and the old',
  );
  output.print('leader is rebuilt as a follower. Every step shows the command an operator would type.');

  const sandbox: Sandbox = await createSandbox(exec, bin, signal, {
    followerName: 'replica_a',
    // pg_rewind needs hint bits logged; a small wal_keep_size lets replica_b fall off the leader.
    // synchronous_commit must be on: the sandbox turns it off for speed, and with it off a commit
    // neither waits for a follower nor for the leader's own flush (the RPO then counted the commits
    // of the leader's last ~200 ms, which no follower had received: RPO 1-3 in one run of three).
    leaderSettings: { wal_log_hints: 'on', wal_keep_size: '16MB', synchronous_commit: 'on' },
  });
  const root = sandbox.root;
  const shortPath = (text: string): string => text.split(root).join('$SANDBOX');
  const conninfo = (port: number): string => `host=127.0.0.1 port=${port} user=${user} dbname=postgres`;
  output.print(`\nsandbox: ${root}  (written as $SANDBOX below)`);

  const archive = { type: 'fs', fs: { path: sandbox.archiveDirectory }, compression: 'lz4' };
  const a: DemoNode = {
    name: 'replica_a',
    directory: sandbox.followerDirectory,
    port: sandbox.followerPort,
    configFile: sandbox.configFile,
    conninfo: conninfo(sandbox.followerPort),
  };
  const bPort = await getPort();
  const b: DemoNode = {
    name: 'replica_b',
    directory: join(root, 'follower-b'),
    port: bPort,
    configFile: join(root, 'replica_b.yaml'),
    conninfo: conninfo(bPort),
  };
  sandbox.extraDirectories.push(b.directory);
  const nodeConfig = (node: DemoNode, leaderConninfo: string, extra: Record<string, unknown>) =>
    stringify({
      node: { name: node.name, dataDirectory: node.directory, port: node.port, host: root },
      leader: { conninfo: leaderConninfo },
      archive,
      http: { enabled: false },
      log: { level: 'warn' },
      ...extra,
    });
  await sandbox.writeFile(
    'pgfollower.yaml',
    nodeConfig(a, sandbox.leaderConninfo, { cluster: { peers: [b.conninfo], replayTimeoutMs: '30s' } }),
  );
  // No slot: nothing makes the leader keep WAL for replica_b, so it can fall behind to the archive.
  await sandbox.writeFile(
    'replica_b.yaml',
    nodeConfig(b, sandbox.leaderConninfo, {
      slot: { enabled: false },
      cluster: { peers: [a.conninfo], replayTimeoutMs: '30s' },
    }),
  );

  const step = async (title: string, argv: string[]): Promise<void> => {
    output.print(`\n== ${title}`);
    output.print(`$ pgfollower ${shortPath(argv.map(displayArg).join(' '))}`);
    const code = await options.invoke(argv, (text) => output.print(indent(shortPath(text))));
    if (signal.aborted) throw signal.reason;
    if (code !== 0) throw new Error(`"pgfollower ${argv.join(' ')}" exited ${code}; the demo stops here`);
  };

  const clients: PgClient[] = [];
  let writer: Writer | undefined;
  try {
    await step('bootstrap replica_a (with a slot)', ['--config', a.configFile, 'bootstrap', '--yes']);
    await step('bootstrap replica_b (no slot)', ['--config', b.configFile, 'bootstrap', '--yes']);

    const leader = await connect(sandbox.leaderConninfo, { signal });
    clients.push(leader);
    output.print(
      "\n== synchronous_standby_names = 'ANY 1 (replica_a, replica_b)' and synchronous_commit = on on the leader: a commit returns once a follower has it",
    );
    await leader.query("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (replica_a, replica_b)'");
    await leader.query('SELECT pg_reload_conf()');
    await waitUntilSynchronous(leader, signal);
    await leader.query(
      'CREATE TABLE demo_orders (id bigserial PRIMARY KEY, placed_at timestamptz DEFAULT now(), note text)',
    );

    writer = startWriter(sandbox.leaderConninfo, [a, b], signal);
    output.print('load: one order per ~20 ms on the leader; each acknowledged id is remembered');
    await sleep(2000, undefined, { signal });

    output.print('\n== replica_b falls behind: stopped while the leader writes ~50 MB and recycles its WAL');
    await stopServer(sandbox.tools, b.directory, { mode: 'fast' });
    await exec.run(bin.path('pgbench'), [
      '-i',
      '-s',
      '2',
      '-q',
      '-h',
      '127.0.0.1',
      '-p',
      String(sandbox.leaderPort),
      '-U',
      user,
      'postgres',
    ]);
    await leader.query('CHECKPOINT');
    await leader.query('SELECT pg_switch_wal()');
    await leader.query('CHECKPOINT');
    output.print('replica_b starts again; the leader no longer has what it needs, the archive does');
    // What `pgfollower run` does on a follower: keep the next segments ready in the spool, so
    // restore_command hands each over with a rename instead of starting Node.
    output.print(
      `(its supervisor's prefetcher runs meanwhile, as with: pgfollower --config ${shortPath(b.configFile)} archive prefetch)`,
    );
    const bContext = await options.contextFor(b.configFile);
    const store = openArchiveStore(bContext.config);
    const prefetcher = await startPrefetcher(bContext, {
      store,
      spoolDir: spoolDirectoryFor(bContext.config) as string,
      depth: bContext.config.archive.prefetch,
      concurrency: bContext.config.archive.prefetchConcurrency,
      dataDirectory: b.directory,
    });
    const catchUpStartedAt = performance.now();
    try {
      await startServer(sandbox.tools, b.directory, { logFile: join(root, 'replica_b.log') });
      await watch(output, signal, leader, [a, b], 300_000, async (views) =>
        views.every((v) => v.state === 'streaming' && v.lagBytes !== null && v.lagBytes < 1024 * 1024),
      );
    } finally {
      await prefetcher.stop();
      store.close();
    }
    output.print(
      `replica_b caught up in ${seconds(performance.now() - catchUpStartedAt)} (${prefetcher.stats().fetched} segments fetched from the archive ahead of replay)`,
    );
    await step('status of replica_b after catching up', ['--config', b.configFile, 'status', '--direct']);

    // The incident.
    output.print('\n== the leader dies (pg_ctl stop -m immediate)');
    await stopServer(sandbox.tools, sandbox.leaderDirectory, { mode: 'immediate' });
    const diedAt = performance.now();
    // Every id the leader acknowledged: it can acknowledge nothing more.
    const acknowledged = writer.acknowledgedByLeader();
    output.print(`${acknowledged.length} orders were acknowledged before it died`);

    const positions = await Promise.all(
      [a, b].map(async (node) => ({ node, lsn: await replayPosition(node.conninfo, signal) })),
    );
    positions.sort((x, y) => (x.lsn === y.lsn ? 0 : x.lsn > y.lsn ? -1 : 1));
    const [first, second] = positions;
    if (!first || !second) throw new Error('no follower answered');
    const candidate = first.node;
    const other = second.node;
    output.print(
      `positions: ${positions.map((p) => `${p.node.name} ${formatBytes(p.lsn)} into WAL`).join(', ')}: ${candidate.name} is the most advanced`,
    );
    await step(`check that promoting ${candidate.name} is safe`, [
      '--config',
      candidate.configFile,
      'promote',
      '--dry-run',
    ]);
    await step(`promote ${candidate.name}`, ['--config', candidate.configFile, 'promote', '--yes']);
    const firstWriteAt = await writer.firstWriteAfter(diedAt, 60_000);
    output.print(
      `the first write on ${candidate.name} was accepted ${seconds(firstWriteAt - diedAt)} after the death`,
    );

    await step(`${other.name} follows the new leader`, [
      '--config',
      other.configFile,
      'follow',
      '--leader',
      candidate.conninfo,
      '--yes',
    ]);
    const old: DemoNode = {
      name: 'old_leader',
      directory: sandbox.leaderDirectory,
      port: sandbox.leaderPort,
      configFile: await sandbox.writeFile(
        'old_leader.yaml',
        nodeConfig(
          {
            name: 'old_leader',
            directory: sandbox.leaderDirectory,
            port: sandbox.leaderPort,
            configFile: '',
            conninfo: '',
          },
          candidate.conninfo,
          {},
        ),
      ),
      conninfo: sandbox.leaderConninfo,
    };
    await step('the old leader is rebuilt as a follower of the new one', [
      '--config',
      old.configFile,
      'rebuild',
      '--leader',
      candidate.conninfo,
      '--yes',
    ]);
    const newLeader = await connect(candidate.conninfo, { signal });
    clients.push(newLeader);
    await waitUntil(signal, 120_000, 'both other nodes stream from the new leader', async () => {
      const { rows } = await newLeader.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'",
      );
      return Number(rows[0]?.n ?? 0) >= 2;
    });
    const allFollowingAt = performance.now();
    await writer.stop();

    const { rows } = await newLeader.query<{ n: string }>(
      'SELECT count(*) AS n FROM demo_orders WHERE id = ANY($1::bigint[])',
      [acknowledged],
    );
    const lost = acknowledged.length - Number(rows[0]?.n ?? 0);
    const result: FailoverDemoResult = {
      sandbox: root,
      newLeader: candidate.name,
      rtoFirstWriteMs: firstWriteAt - diedAt,
      rtoAllFollowingMs: allFollowingAt - diedAt,
      acknowledgedRows: acknowledged.length,
      lostRows: lost,
    };
    output.print('');
    output.print(
      `RTO ${seconds(result.rtoFirstWriteMs)} from the leader's death to the first write on ${candidate.name}; ${seconds(result.rtoAllFollowingMs)} until every node follows it`,
    );
    output.print(
      `RPO ${lost} committed rows lost (${acknowledged.length} acknowledged before the death; ${acknowledged.length - lost} on the new leader)`,
    );
    return result;
  } finally {
    await writer?.stop();
    for (const client of clients) await client.end().catch(() => undefined);
    output.print(
      options.keep ? `stopping servers; keeping ${root}` : `stopping servers and removing ${root}`,
    );
    await sandbox.destroy({ keep: options.keep });
  }
}

/**
 * The RPO line is only true when commits wait for a follower: both followers are quorum candidates
 * and a new session commits with synchronous_commit = on (the reload reaches every process).
 */
async function waitUntilSynchronous(leader: PgClient, signal: AbortSignal): Promise<void> {
  await waitUntil(signal, 30_000, 'both followers are synchronous candidates', async () => {
    const { rows } = await leader.query<{ quorum: string; commit: string }>(
      `SELECT (SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum')::text AS quorum,
              current_setting('synchronous_commit') AS commit`,
    );
    return rows[0]?.quorum === '2' && rows[0]?.commit === 'on';
  });
}

/** An argument as an operator would type it: quoted when it holds a space. */
function displayArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : shellQuote(arg);
}
