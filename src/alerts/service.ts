import type { AlertsConfig } from '../config/sections/alerts.js';
import type { RunningService, SupervisorHandle, SupervisorService } from '../daemon/types.js';
import { describeMaintenance, readMaintenance, resolveMaintenanceFile } from '../daemon/maintenance.js';
import type { SupervisorEvents } from '../monitor/events.js';
import { computeBackoffMs } from '../util/backoff.js';
import { createChannels } from './channels/index.js';
import { createDispatcher, type DeliveryResult } from './deliver.js';
import { evaluate } from './engine.js';
import { makeLifecycleNotification } from './notify.js';
import { createAlertMetrics, recordFiring } from './metrics.js';
import { loadAlertState, resolveAlertStateFile, saveAlertState } from './state-file.js';
import type { AlertState, Notification, OutboxEntry } from './types.js';

interface AlertServiceOptions {
  /** Overrides the resolved state file (tests). */
  stateFile?: string;
  /** Called after each delivery attempt sequence (tests, bench). */
  onDelivered?: (notification: Notification, result: DeliveryResult) => void;
  /** Called with every notification the engine produced, before delivery. */
  onNotification?: (notification: Notification) => void;
  /** Overrides the resolved maintenance file (tests). */
  maintenanceFile?: string;
}

/** How long stop() waits for queued notifications (a `resolved` in flight) before giving up. */
const drainOnStopMs = 3000;

/**
 * A notification a channel failed to take after all its retries stays owed and is sent again after
 * this backoff (doubling per round, with jitter, at most 5 min), until the channel takes it or a
 * newer notification of the same alert replaces it. A receiver down for an hour still gets the page.
 */
const redeliver = { baseMs: 5000, maxMs: 300_000 };

/**
 * The alerts plug-in of `pgfollower run`: evaluates every snapshot, persists firing alerts, and
 * hands notifications to per-channel queues so a slow receiver never delays a tick.
 *
 * Restarts: the engine state (what fired, when it last paged) and an outbox of notifications not
 * yet confirmed by their channels are written to the state file before anything is sent. After a
 * restart, what already paged is not paged again, and what was decided but not delivered (crash,
 * or a slow channel at shutdown) is sent then.
 */
export function createAlertService(options: AlertServiceOptions = {}): SupervisorService {
  return {
    name: 'alerts',
    async start(handle: SupervisorHandle): Promise<RunningService> {
      const logger = handle.context.logger.child({ component: 'alerts' });
      const config = (): Readonly<AlertsConfig> => handle.context.config.alerts;
      const stateFile = options.stateFile ?? resolveAlertStateFile(handle.context.config);
      if (!stateFile) {
        logger.warn(
          'no place to keep firing alerts across restarts (set alerts.stateFile or monitor.stateFile); a restart may page again',
        );
      }
      const loaded = await loadAlertState(stateFile, logger);
      let state: AlertState = { version: 1, alerts: loaded.alerts, history: loaded.history };
      const outbox: OutboxEntry[] = loaded.outbox ?? [];
      let persisted = JSON.stringify([state, outbox]);
      const firingAtStart = Object.values(state.alerts).filter((a) => a.phase === 'firing').length;
      if (firingAtStart > 0) {
        logger.info(
          { stateFile },
          `${firingAtStart} alert(s) still firing from before the restart; not paging them again`,
        );
      }

      const metrics = createAlertMetrics(handle.metrics);
      recordFiring(metrics, state);
      const controller = new AbortController();
      const dispatcher = createDispatcher({
        channels: createChannels(config()),
        logger,
        metrics,
        signal: controller.signal,
        onDelivered: options.onDelivered,
      });
      if (config().channels.length === 0 && config().enabled) {
        logger.warn('alerts.channels is empty: alerts are evaluated and counted, but nobody is told');
      }

      // Writes are chained: two ticks never write the file at once, and the last state wins.
      let writing: Promise<void> = Promise.resolve();
      const persist = (): Promise<void> => {
        if (!stateFile) return writing;
        const text = JSON.stringify([state, outbox]);
        if (text === persisted) return writing;
        persisted = text;
        const stateNow = state;
        const outboxNow = outbox.map((e) => ({ notification: e.notification, channels: [...e.channels] }));
        writing = writing.then(() =>
          saveAlertState(stateFile, stateNow, outboxNow).catch((error: unknown) => {
            // Not on disk: the next persist must write it even when nothing changed meanwhile.
            if (persisted === text) persisted = '';
            logger.error(
              { stateFile, err: String(error) },
              `cannot write alert state ${stateFile}: ${String(error)}; a restart may page firing alerts again`,
            );
          }),
        );
        return writing;
      };

      const removeEntry = (entry: OutboxEntry): void => {
        const index = outbox.indexOf(entry);
        if (index >= 0) outbox.splice(index, 1);
      };
      const dropChannel = (entry: OutboxEntry, channel: string): void => {
        entry.channels = entry.channels.filter((c) => c !== channel);
        if (entry.channels.length === 0) removeEntry(entry);
      };
      /** A later outbox entry of the same alert owed to `channel`: it replaces this one there. */
      const superseded = (entry: OutboxEntry, channel: string): boolean => {
        const index = outbox.indexOf(entry);
        return outbox
          .slice(index + 1)
          .some(
            (later) =>
              later.notification.dedupKey === entry.notification.dedupKey && later.channels.includes(channel),
          );
      };
      const retryTimers = new Set<NodeJS.Timeout>();
      const rounds = new WeakMap<OutboxEntry, number>();

      /** Sends an outbox entry to the channels still owed it; each confirmation shrinks it. */
      const send = (entry: OutboxEntry, only: readonly string[] = entry.channels): void => {
        const queued = dispatcher.enqueue(entry.notification, {
          only,
          onDelivered(result) {
            // Cancelled at shutdown: keep it owed, the next start sends it.
            if (result.cancelled) return;
            if (!result.ok && result.retryable && !controller.signal.aborted) {
              if (superseded(entry, result.channel)) {
                dropChannel(entry, result.channel);
                void persist();
                return;
              }
              // Still owed: try again later rather than lose the page.
              const round = rounds.get(entry) ?? 0;
              rounds.set(entry, round + 1);
              const delayMs = computeBackoffMs(round, redeliver);
              logger.warn(
                { channel: result.channel, alert: entry.notification.alert, round: round + 1 },
                `${entry.notification.status} ${entry.notification.alert} is still owed to ${result.channel}; sending it again in ${Math.round(delayMs / 1000)} s`,
              );
              const timer = setTimeout(() => {
                retryTimers.delete(timer);
                if (controller.signal.aborted || !entry.channels.includes(result.channel)) return;
                if (superseded(entry, result.channel)) {
                  dropChannel(entry, result.channel);
                  void persist();
                  return;
                }
                send(entry, [result.channel]);
              }, delayMs);
              retryTimers.add(timer);
              return;
            }
            dropChannel(entry, result.channel);
            void persist();
          },
        });
        // Channels that went away (config changed) are owed nothing.
        const gone = only.filter((c) => !queued.includes(c));
        if (gone.length > 0) {
          entry.channels = entry.channels.filter((c) => !gone.includes(c));
          if (entry.channels.length === 0) removeEntry(entry);
        }
      };

      if (outbox.length > 0) {
        logger.warn(
          { stateFile },
          `${outbox.length} notification(s) were not confirmed before the last stop; sending them now`,
        );
        for (const entry of [...outbox]) send(entry);
        void persist();
      }

      const onSnapshot = (...[snapshot]: SupervisorEvents['snapshot']): void => {
        if (!config().enabled) return;
        try {
          const result = evaluate(state, snapshot, snapshot.takenAt, config());
          state = result.state;
          const entries: OutboxEntry[] = [];
          const maintenance = readMaintenance(maintenanceFile(), snapshot.takenAt);
          if (maintenance) {
            // Evaluated as usual (the state stays true), delivered to nobody; every one says why.
            for (const notification of result.notifications) holdNotification(notification, maintenance);
          } else {
            entries.push(...releaseHeld());
          }
          for (const notification of maintenance ? [] : result.notifications) {
            logger.info(
              { alert: notification.alert, severity: notification.severity, value: notification.value },
              `${notification.status} ${notification.alert} (${notification.severity}): ${notification.message}`,
            );
            options.onNotification?.(notification);
            const channels = dispatcher.targets(notification);
            if (channels.length > 0) entries.push({ notification, channels });
          }
          outbox.push(...entries);
          recordFiring(metrics, state);
          // The state and the outbox reach the disk before anything is sent: a crash in between
          // re-sends after the restart rather than losing or repeating the page.
          const saved = persist();
          if (entries.length > 0) {
            void saved
              .then(() => {
                for (const entry of entries) send(entry);
              })
              .catch((error: unknown) =>
                logger.error({ err: error }, 'could not queue alert notifications (a bug)'),
              );
          }
        } catch (error) {
          // A bug in a rule must not take the supervisor down with it.
          logger.error({ err: error }, 'alert evaluation failed; skipping this tick');
        }
      };
      const maintenanceFile = (): string | undefined =>
        options.maintenanceFile ?? resolveMaintenanceFile(handle.context.config);
      /** Firing alerts whose page a maintenance window held, by alert: sent when it ends. */
      const held = new Map<string, Notification>();
      const holdNotification = (
        notification: Notification,
        maintenance: NonNullable<ReturnType<typeof readMaintenance>>,
      ): void => {
        const why = describeMaintenance(maintenance);
        const marked: Notification = {
          ...notification,
          held: why,
          message: `${notification.message} [held: ${why}]`,
        };
        logger.info(
          { alert: marked.alert, status: marked.status },
          `held ${marked.status} ${marked.alert}: ${why}`,
        );
        options.onNotification?.(marked);
        if (notification.status === 'firing') held.set(notification.alert, notification);
        else if (notification.status === 'resolved') held.delete(notification.alert);
      };
      const releaseHeld = (): OutboxEntry[] => {
        const entries: OutboxEntry[] = [];
        for (const [alert, notification] of held) {
          // Only what still fires is paged; what resolved meanwhile never troubled anyone.
          if (state.alerts[alert as keyof AlertState['alerts']]?.phase !== 'firing') continue;
          const released: Notification = {
            ...notification,
            message: `${notification.message} [maintenance ended; held since ${notification.startsAt}]`,
          };
          logger.info({ alert }, `maintenance over: sending the held ${alert}`);
          options.onNotification?.(released);
          const channels = dispatcher.targets(released);
          if (channels.length > 0) entries.push({ notification: released, channels });
        }
        held.clear();
        return entries;
      };
      const onLifecycle = (...[info]: SupervisorEvents['lifecycle']): void => {
        if (!config().enabled) return;
        const notification = makeLifecycleNotification(
          info.kind,
          info.node,
          info.message,
          handle.context.clock.now(),
        );
        options.onNotification?.(notification);
        dispatcher.enqueue(notification);
      };
      const onReload = (): void => {
        dispatcher.setChannels(createChannels(config()));
        logger.info(`alert channels reloaded: ${config().channels.length} channel(s)`);
      };

      handle.events.on('snapshot', onSnapshot);
      handle.events.on('lifecycle', onLifecycle);
      handle.events.on('config:reload', onReload);
      logger.info(
        { stateFile, channels: config().channels.length },
        `alerts on: ${config().channels.length} channel(s), state in ${stateFile ?? '(memory only)'}`,
      );

      return {
        async stop() {
          handle.events.off('snapshot', onSnapshot);
          handle.events.off('lifecycle', onLifecycle);
          handle.events.off('config:reload', onReload);
          // Notifications wait for their state write before they are queued.
          await writing;
          const delivered = await dispatcher.drain(drainOnStopMs);
          if (!delivered) {
            logger.warn(
              `alert notifications still in flight after ${drainOnStopMs} ms; stopping them, they are sent again at the next start`,
            );
          }
          controller.abort(new Error('alerts service stopping'));
          for (const timer of retryTimers) clearTimeout(timer);
          await dispatcher.drain(1000);
          await persist();
        },
      };
    },
  };
}
