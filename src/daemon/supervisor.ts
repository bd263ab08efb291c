import { abortReasonText } from '../util/deadline.js';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { formatDurationMs } from '../config/units.js';
import { createSupervisorMetrics } from '../http/metrics.js';
import { startHttpServer, type HttpServerHandle } from '../http/server.js';
import type { SupervisorEvents } from '../monitor/events.js';
import { Monitor, type TickOutcome } from '../monitor/monitor.js';
import type { Snapshot } from '../monitor/snapshot.js';
import type { RunningService, SupervisorEmitter, SupervisorHandle, SupervisorOptions } from './types.js';

/** Each service gets this long to stop; the whole shutdown stays below systemd's TimeoutStopSec. */
const SERVICE_STOP_TIMEOUT_MS = 5_000;
/** How often a state other than streaming/primary is logged again while it lasts. */
const REMINDER_EVERY_MS = 5 * 60_000;

/**
 * Starts the supervisor: takes a first snapshot, opens the HTTP API, starts the plug-in services,
 * then ticks every monitor.intervalMs (the next tick is scheduled after the previous finished).
 * Stops when ctx.signal aborts or stop() is called; see src/daemon/types.ts for the seam.
 */
export async function startSupervisor(
  ctx: Context,
  options: SupervisorOptions = {},
): Promise<SupervisorHandle> {
  let context = ctx;
  const logger = ctx.logger.child({ component: 'supervisor' });
  const controller = new AbortController();
  const events: SupervisorEmitter = new EventEmitter<SupervisorEvents>();
  events.setMaxListeners(50);
  const metrics = createSupervisorMetrics();
  const monitor = new Monitor(ctx, {
    archiveProbe: options.archiveProbe,
    maxBackoffMs: options.maxBackoffMs,
    catchUp: options.catchUp,
  });
  let latest: Snapshot | undefined;
  let lastTickAt: number | undefined;
  let http: HttpServerHandle | undefined;
  const running: Array<{ name: string; service: RunningService }> = [];
  let stopReason = 'stopped';
  let stateSince = ctx.clock.now();
  let lastReminderAt = ctx.clock.now();
  /** Whether the slot was lost (or missing) the last time the leader answered. */
  let slotLost = false;

  const onOuterAbort = (): void => {
    stop(abortReasonText(ctx.signal.reason, 'aborted')).catch(() => undefined);
  };

  /**
   * A subscriber that throws must neither take the daemon down nor keep the event from the
   * subscribers after it (EventEmitter.emit stops at the first throw), so each is called alone.
   * rawListeners keeps `once` wrappers, which remove themselves when called.
   */
  const emit = <K extends keyof SupervisorEvents>(name: K, ...args: SupervisorEvents[K]): void => {
    for (const listener of events.rawListeners(name) as Array<(...a: SupervisorEvents[K]) => unknown>) {
      try {
        listener(...args);
      } catch (error) {
        logger.error({ err: error, event: name }, `a subscriber of "${String(name)}" failed; continuing`);
      }
    }
  };

  const runTick = async (): Promise<void> => {
    const started = performance.now();
    let outcome: TickOutcome;
    try {
      outcome = await monitor.tick(controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return;
      logger.error({ err: error }, 'monitor tick failed (a bug); trying again next interval');
      return;
    }
    if (controller.signal.aborted) return;
    const previous = latest;
    latest = outcome.snapshot;
    lastTickAt = context.clock.now();
    metrics.observe(outcome.snapshot, (performance.now() - started) / 1000);
    metrics.setLeaderQueries(monitor.leaderQueries);
    report(previous, outcome);
  };

  /** The last connection failure logged at warn, per side: a repeat of it is logged at debug. */
  let lastLocalError: string | undefined;
  let lastLeaderError: string | undefined;
  const retryText = (ms: number): string =>
    ms > 0 ? `retrying in ${formatDurationMs(ms)}` : 'trying again at the next tick';

  const report = (previous: Snapshot | undefined, outcome: TickOutcome): void => {
    const { snapshot, localAttempt, leaderAttempt } = outcome;
    if (!localAttempt.ok && localAttempt.attempted) {
      // Once at warn per cause; the same failure every tick goes to debug (the state reminder
      // below repeats the trouble every few minutes), or a journal fills with one line a second.
      const repeated = localAttempt.error === lastLocalError;
      lastLocalError = localAttempt.error;
      logger[repeated ? 'debug' : 'warn'](
        { code: localAttempt.code },
        `local server unreachable (${localAttempt.error}); ${retryText(localAttempt.retryInMs)}`,
      );
      emit('local:unreachable', { error: localAttempt.error, retryInMs: localAttempt.retryInMs });
    } else if (localAttempt.ok) {
      if (previous && !previous.local.ok) logger.info('local server answers again');
      lastLocalError = undefined;
    }
    if (leaderAttempt && !leaderAttempt.ok && leaderAttempt.attempted) {
      const repeated = leaderAttempt.error === lastLeaderError;
      lastLeaderError = leaderAttempt.error;
      const level = leaderAttempt.retryClass === 'needs-operator' ? 'error' : 'warn';
      logger[repeated ? 'debug' : level](
        { code: leaderAttempt.code },
        `leader unreachable (${leaderAttempt.error}); ${retryText(leaderAttempt.retryInMs)}` +
          (level === 'error' ? '; this needs a fix in leader.conninfo, pg_hba.conf or the role' : ''),
      );
      emit('leader:unreachable', { error: leaderAttempt.error, retryInMs: leaderAttempt.retryInMs });
    } else if (leaderAttempt?.ok) {
      if (previous && !previous.leader.ok) logger.info('leader answers again');
      lastLeaderError = undefined;
    }

    emit('snapshot', snapshot);
    if (snapshot.local.ok && snapshot.local.value.inRecovery) emit('lag:sample', { snapshot });

    if (
      previous?.state === snapshot.state &&
      snapshot.state !== 'streaming' &&
      snapshot.state !== 'primary'
    ) {
      // A journal read hours later should still show that the trouble persists.
      if (context.clock.now() - lastReminderAt >= REMINDER_EVERY_MS) {
        lastReminderAt = context.clock.now();
        logger.warn(
          { state: snapshot.state },
          `still ${snapshot.state} since ${new Date(stateSince).toISOString()}: ${snapshot.reason}`,
        );
      }
    }
    if (previous?.state !== snapshot.state) {
      stateSince = snapshot.takenAt;
      lastReminderAt = context.clock.now();
      const from = previous?.state ?? null;
      const quiet = snapshot.state === 'streaming' || snapshot.state === 'primary';
      logger[quiet ? 'info' : 'warn'](
        { from, to: snapshot.state },
        `state ${from ?? '(start)'} -> ${snapshot.state}: ${snapshot.reason}`,
      );
      emit('state:change', { from, to: snapshot.state, snapshot });
      if (snapshot.state === 'archive-recovery')
        emit('wal:archive-fallback', { segment: snapshot.neededSegment, snapshot });
      if (snapshot.state === 'stalled') emit('wal:stalled', { segment: snapshot.neededSegment, snapshot });
    }

    // Compared with the last tick the leader answered: a leader that drops out and comes back
    // does not make an old loss new (nor log and emit it again).
    const slot = snapshot.leader.ok ? snapshot.leader.value.slot : null;
    const wasLost = slotLost;
    if (snapshot.leader.ok) slotLost = slot !== null && isLost(slot);
    if (slot && isLost(slot) && !wasLost) {
      logger.error(
        { slot: slot.name, walStatus: slot.walStatus, exists: slot.exists },
        slot.exists
          ? `slot ${slot.name} is lost on the leader (wal_status=lost): the WAL it protected is gone; the follower needs the archive or a rebuild`
          : `slot ${slot.name} does not exist on the leader: the leader does not keep WAL for this follower; recreate the slot or rebuild`,
      );
      emit('slot:lost', { slot: slot.name, snapshot });
    }
  };

  const loop = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        await sleep(context.config.monitor.intervalMs, undefined, { signal: controller.signal });
      } catch {
        break;
      }
      await runTick();
    }
  };

  let stopping: Promise<void> | undefined;
  let loopDone: Promise<void> = Promise.resolve();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const stop = (reason = 'stop requested'): Promise<void> => {
    stopping ??= (async () => {
      stopReason = reason;
      ctx.signal.removeEventListener('abort', onOuterAbort);
      logger.info(`stopping supervisor (${reason}): services, HTTP API, connections`);
      emit('supervisor:stopping', { reason });
      controller.abort(new Error(reason));
      await loopDone;
      for (const { name, service } of running.reverse()) {
        await withTimeout(service.stop(), SERVICE_STOP_TIMEOUT_MS).catch((error: unknown) =>
          logger.warn({ err: error, service: name }, `service ${name} did not stop cleanly; going on`),
        );
      }
      await http?.close();
      await monitor.close();
      logger.info(`supervisor stopped (${stopReason})`);
      resolveDone();
    })();
    return stopping;
  };

  const handle: SupervisorHandle = {
    get context() {
      return context;
    },
    done,
    events,
    signal: controller.signal,
    metrics: metrics.registry,
    latest: () => latest,
    httpAddress: () => http?.address,
    reload(config) {
      const before = context.config;
      context = { ...context, config };
      monitor.setContext(context);
      if (before.http.listen !== config.http.listen || before.http.enabled !== config.http.enabled) {
        logger.warn('http.listen / http.enabled changed: restart pgfollower to apply them');
      }
      logger.info(
        `configuration reloaded; interval ${formatDurationMs(config.monitor.intervalMs)} from the next tick`,
      );
      emit('config:reload', { config });
    },
    stop,
    [Symbol.asyncDispose]: () => stop('disposed'),
  };

  try {
    await runTick();
    if (options.http !== false && ctx.config.http.enabled) {
      http = await startHttpServer({
        listen: ctx.config.http.listen,
        logger: ctx.logger,
        latest: () => latest,
        lastTickAt: () => lastTickAt,
        intervalMs: () => context.config.monitor.intervalMs,
        registry: metrics.registry,
        clock: ctx.clock,
      });
    }
    for (const service of options.services ?? []) {
      logger.debug(`starting service ${service.name}`);
      running.push({ name: service.name, service: await service.start(handle) });
    }
  } catch (error) {
    // Half-started: release what was opened, then report why.
    await stop(`start failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
  if (ctx.signal.aborted) {
    await stop(abortReasonText(ctx.signal.reason, 'aborted'));
    return handle;
  }
  ctx.signal.addEventListener('abort', onOuterAbort, { once: true });
  loopDone = loop();
  logger.info(
    `supervisor running: ${latest?.state ?? '?'} (${latest?.reason ?? ''}); next tick in ${formatDurationMs(ctx.config.monitor.intervalMs)}`,
  );
  return handle;
}

function isLost(slot: { exists: boolean; walStatus: string | null }): boolean {
  return !slot.exists || slot.walStatus === 'lost';
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`did not finish within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}
