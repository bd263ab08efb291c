import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ArchiveProbe, SnapshotInProgress } from './snapshot.js';
import type { Context } from '../context.js';
import { localConninfo } from '../postgres/client.js';
import { parseConninfo } from '../postgres/conninfo.js';
import { walFileName } from '../postgres/lsn.js';
import { classify, fetchPosition, walSegmentSize } from './classify.js';
import { PersistentConnection, toSourced, type Attempt } from './connection.js';
import { CatchUpEstimator } from './catchup.js';
import { LagTracker, SlotForecaster } from './lag.js';
import { LeaderQuery, primaryAsLeader, queryLocal, queryPrimary } from './queries.js';
import type {
  ArchiveSample,
  LeaderSample,
  LocalSample,
  PrimarySample,
  Snapshot,
  Sourced,
} from './snapshot.js';

export interface MonitorOptions {
  archiveProbe?: ArchiveProbe | undefined;
  maxBackoffMs?: number | undefined;
  /**
   * One-shot only: when the first sample cannot tell archive-recovery from a stall (that needs
   * to see replay move), take a second one a moment later.
   */
  twoSamples?: boolean;
  /**
   * Catch-up estimate: rates need samples spanning minSpanMs (default 2 s or two intervals); replay
   * still for holdMs (default 10 s or three intervals) starts a new window (catchup.ts).
   */
  catchUp?: { minSpanMs?: number; holdMs?: number } | undefined;
}

/** What one tick produced besides the snapshot: failed attempts, for logs and events. */
export interface TickOutcome {
  snapshot: Snapshot;
  localAttempt: Attempt<LocalSample>;
  leaderAttempt: Attempt<LeaderSample> | undefined;
}

/**
 * Takes snapshots: one query on the local server, one on the leader (in parallel), the archive
 * probe if any, then lag maths and classification. Holds the state that spans ticks (connections,
 * the leader LSN history for lag seconds, the slot growth window, the previous snapshot).
 */
export class Monitor {
  private readonly local: PersistentConnection;
  private readonly leader: PersistentConnection;
  private readonly leaderQuery = new LeaderQuery();
  private readonly lag = new LagTracker();
  /** cluster.primary (cascading): its own connection and LSN history, lag to it apart. */
  private readonly primary: PersistentConnection;
  private readonly primaryLag = new LagTracker();
  private readonly forecast = new SlotForecaster();
  private readonly catchUp: CatchUpEstimator;
  private previous: Snapshot | undefined;

  constructor(
    private ctx: Context,
    private readonly options: MonitorOptions = {},
  ) {
    const common = {
      connectTimeoutMs: Math.min(
        ctx.config.leader.connectTimeoutMs,
        ctx.config.monitor.queryTimeoutMs + 2000,
      ),
      queryTimeoutMs: ctx.config.monitor.queryTimeoutMs,
      applicationName: 'pgfollower monitor',
      baseBackoffMs: Math.max(100, ctx.config.monitor.intervalMs),
      maxBackoffMs: options.maxBackoffMs ?? 15_000,
      clock: ctx.clock,
    };
    // The local server is on this host: a connection attempt costs little, so it is tried every tick
    // (a backoff of 12-15 s hid a follower's restart and its whole archive catch-up).
    this.local = new PersistentConnection({
      ...common,
      baseBackoffMs: 0,
      maxBackoffMs: 0,
      name: 'local server',
    });
    this.leader = new PersistentConnection({ ...common, name: 'leader' });
    const interval = ctx.config.monitor.intervalMs;
    const windowMs = Math.max(30_000, 5 * interval);
    this.catchUp = new CatchUpEstimator({
      windowMs,
      minSpanMs: options.catchUp?.minSpanMs ?? Math.max(2_000, 2 * interval),
      holdMs: Math.min(windowMs, options.catchUp?.holdMs ?? Math.max(10_000, 3 * interval)),
      catchingUpBytes: ctx.config.monitor.catchingUpBytes,
    });
    this.primary = new PersistentConnection({ ...common, name: 'primary' });
  }

  /** Statements sent to the leader so far (the footprint benchmark reads it). */
  get leaderQueries(): number {
    return this.leaderQuery.queries;
  }

  setContext(ctx: Context): void {
    this.ctx = ctx;
  }

  async tick(signal: AbortSignal): Promise<TickOutcome> {
    const { config } = this.ctx;
    const takenAt = this.ctx.clock.now();
    const node = nodeName(config.node.name);
    const slotName =
      (config.slot.enabled ? config.slot.name : undefined) ??
      (this.previous?.local.ok ? this.previous.local.value.walReceiver?.slotName : undefined) ??
      null;
    const leaderConninfo = config.leader.conninfo;

    const localPromise = this.local.use(
      localConninfo({ ...config.node, user: localUser(config.node) }),
      queryLocal,
      signal,
    );
    const leaderPromise = leaderConninfo
      ? (async () => {
          // The leader is in backoff: when the local WAL receiver streams, the leader is back, so ask
          // it now instead of waiting out up to 30 s of backoff (/replica?lag= stayed 503 meanwhile).
          if (this.leader.waitingToRetry()) {
            const localNow = await localPromise;
            if (localNow.ok && localNow.value.walReceiver?.status === 'streaming') this.leader.retryNow();
          }
          return this.leader.use(
            leaderConninfo,
            (client) => this.leaderQuery.run(client, slotName, node),
            signal,
          );
        })()
      : Promise.resolve(undefined);
    const primaryConninfo = config.cluster.primary;
    const primaryPromise = primaryConninfo
      ? this.primary.use(primaryConninfo, queryPrimary, signal)
      : Promise.resolve(undefined);
    const [localAttempt, leaderAttempt, primaryAttempt] = await Promise.all([
      localPromise,
      leaderPromise,
      primaryPromise,
    ]);
    const local = toSourced(localAttempt);
    const leader: Sourced<LeaderSample> = leaderAttempt
      ? toSourced(leaderAttempt)
      : { ok: false, error: 'no leader configured (leader.conninfo)', code: 'NO_LEADER' };

    const lag = this.lag.compute(takenAt, local, leader, config.node.applyDelay);
    const primary = primaryAttempt ? this.primarySection(takenAt, local, toSourced(primaryAttempt)) : null;
    const segmentSize = walSegmentSize(local, leader);
    // The same segment classify names: the archive is asked about what the follower still needs.
    const fetchLsn = local.ok && local.value.inRecovery ? fetchPosition(local.value) : null;
    const neededSegment =
      local.ok && fetchLsn !== null && local.value.timeline !== null && segmentSize !== null
        ? walFileName(local.value.timeline, fetchLsn, segmentSize)
        : null;

    let archive: Sourced<ArchiveSample> | null = null;
    if (this.options.archiveProbe) {
      const inProgress: SnapshotInProgress = { takenAt, node, local, leader, lag, neededSegment };
      try {
        archive = { ok: true, value: await this.options.archiveProbe(inProgress, signal) };
      } catch (error) {
        archive = { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    }

    const unclassified = {
      takenAt,
      node,
      local,
      leader,
      archive,
      lag,
      forecast: this.forecast.compute(takenAt, leader),
      lastLeader: leader.ok
        ? {
            lsn: leader.value.currentLsn,
            timeline: leader.value.timeline,
            seenAt: takenAt,
            sync: {
              syncState: leader.value.replication?.syncState ?? null,
              synchronousCommit: leader.value.synchronousCommit ?? null,
              standbyNames: leader.value.synchronousStandbyNames ?? null,
            },
          }
        : (this.previous?.lastLeader ?? null),
      topology: {
        failoverPriority: config.node.failoverPriority,
        applyDelayMs: config.node.applyDelay,
        upstream: leaderConninfo ? upstreamAddress(leaderConninfo) : null,
        primary: primaryConninfo ? upstreamAddress(primaryConninfo) : null,
      },
      primary,
    };
    const verdict = classify(this.previous, unclassified, {
      catchingUpBytes: config.monitor.catchingUpBytes,
      stallAfterMs: Math.max(30_000, config.monitor.intervalMs * 10),
    });
    const spooled = archive?.ok ? archive.value.spooledSegments : null;
    const catchUp = this.catchUp.compute(takenAt, local, leader, lag, verdict.state, spooled);
    const snapshot: Snapshot = { ...unclassified, ...verdict, catchUp };
    this.previous = snapshot;
    return { snapshot, localAttempt, leaderAttempt };
  }

  /** Lag to cluster.primary: the same maths as to the upstream, against the primary's positions. */
  private primarySection(
    takenAt: number,
    local: Sourced<LocalSample>,
    sample: Sourced<PrimarySample>,
  ): NonNullable<Snapshot['primary']> {
    const asLeader: Sourced<LeaderSample> = sample.ok
      ? { ok: true, value: primaryAsLeader(sample.value) }
      : sample;
    return {
      sample,
      lag: this.primaryLag.compute(takenAt, local, asLeader, this.ctx.config.node.applyDelay),
      last: sample.ok
        ? { lsn: sample.value.currentLsn, timeline: sample.value.timeline, seenAt: takenAt }
        : (this.previous?.primary?.last ?? null),
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.leader.close(), this.primary.close()]);
  }
}

/** host and port of leader.conninfo (never its password), for the status document. */
function upstreamAddress(conninfo: string): { host: string | null; port: number | null } {
  try {
    const info = parseConninfo(conninfo);
    const port = Number((info.port ?? '5432').split(',')[0]);
    return { host: info.host ?? info.hostaddr ?? null, port: Number.isInteger(port) ? port : null };
  } catch {
    return { host: null, port: null };
  }
}

function nodeName(configured: string | undefined): string {
  return configured ?? hostname();
}

/**
 * The local user: node.user, else libpq's PGUSER, else, when pgfollower runs as root (which
 * PostgreSQL refuses as a role by convention), the PostgreSQL OS user.
 */
export function localUser(node: { user?: string | undefined; osUser: string }): string | undefined {
  if (node.user) return node.user;
  if (process.env.PGUSER) return undefined;
  return process.getuid?.() === 0 ? node.osUser : undefined;
}

/** One snapshot without a daemon: `status` and `check` when no supervisor answers. */
export async function takeSnapshot(ctx: Context, options: MonitorOptions = {}): Promise<Snapshot> {
  const monitor = new Monitor(ctx, options);
  try {
    const first = (await monitor.tick(ctx.signal)).snapshot;
    // Stopped (SIGINT/SIGTERM) while connecting: the snapshot would describe the interruption.
    ctx.signal.throwIfAborted();
    const settled = ['streaming', 'catching-up', 'primary', 'stopped'].includes(first.state);
    if (!options.twoSamples || settled) return first;
    await sleep(Math.min(ctx.config.monitor.intervalMs, 1000), undefined, { signal: ctx.signal });
    const second = (await monitor.tick(ctx.signal)).snapshot;
    ctx.signal.throwIfAborted();
    return second;
  } finally {
    await monitor.close();
  }
}
