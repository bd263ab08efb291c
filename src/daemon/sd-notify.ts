import { execa } from 'execa';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import type { Clock } from '../util/time.js';
import type { SupervisorService } from './types.js';

/** Sends `KEY=VALUE` fields to systemd. Injected so tests can record instead of calling systemd. */
type Notify = (fields: readonly string[]) => Promise<void>;

/**
 * systemd's notify protocol through the `systemd-notify` helper: NOTIFY_SOCKET is a datagram
 * socket, which Node cannot open without a native addon. The unit uses NotifyAccess=all because
 * the helper is a child of the daemon; systemd-notify waits (sd_notify_barrier) until systemd has
 * read the message, so the short-lived sender is still attributable to the unit.
 * https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html
 */
export function createSystemdNotify(env: NodeJS.ProcessEnv): Notify {
  return async (fields) => {
    // No cancel signal on purpose: STOPPING=1 is sent while shutdown is under way and must still
    // reach systemd; the timeout bounds it instead.
    await execa('systemd-notify', [...fields], {
      env: { NOTIFY_SOCKET: env.NOTIFY_SOCKET },
      timeout: 5_000,
      stdin: 'ignore',
    });
  };
}

/**
 * READY=1 once the first snapshot is taken and the HTTP API is up; WATCHDOG=1 after ticks (at most
 * every half WatchdogSec, so a loop that stops ticking gets the service restarted); STATUS= with
 * the state; STOPPING=1 on shutdown. Undefined when not run by systemd (no NOTIFY_SOCKET).
 */
export function createSdNotifyService(options: {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  notify: Notify;
  clock: Clock;
}): SupervisorService | undefined {
  if (!options.env.NOTIFY_SOCKET) return undefined;
  const now = (): number => options.clock.now();
  const watchdogUsec = Number(options.env.WATCHDOG_USEC ?? '0');
  // The watchdog is for our main pid only; WATCHDOG_PID names it when set.
  const watchdogForUs =
    watchdogUsec > 0 && (!options.env.WATCHDOG_PID || Number(options.env.WATCHDOG_PID) === process.pid);
  let watchdogEveryMs = watchdogForUs ? watchdogUsec / 1000 / 2 : Infinity;
  let currentWatchdogUsec = watchdogUsec;
  /**
   * WATCHDOG=1 follows ticks, which come every monitor.intervalMs plus one tick's time (bounded by
   * the query and connect timeouts). A WatchdogSec shorter than twice that would have systemd kill
   * a healthy supervisor run with a long interval: lengthen it at runtime (WATCHDOG_USEC=).
   */
  const lengthenWatchdog = (config: Pick<Config, 'monitor' | 'leader'> | undefined): string[] => {
    if (!watchdogForUs || !config) return [];
    const tickMs = config.monitor.intervalMs + config.monitor.queryTimeoutMs + config.leader.connectTimeoutMs;
    const neededUsec = Math.ceil((2 * tickMs + 10_000) * 1000);
    if (neededUsec <= currentWatchdogUsec) return [];
    currentWatchdogUsec = neededUsec;
    watchdogEveryMs = neededUsec / 1000 / 2;
    return [`WATCHDOG_USEC=${neededUsec}`];
  };
  const logger = options.logger.child({ component: 'sd-notify' });
  const pending = new Set<Promise<void>>();
  const send = (fields: string[]): void => {
    const sending = options.notify(fields).catch((error: unknown) => {
      logger.warn(
        { err: error },
        `systemd-notify ${fields.join(' ')} failed; systemd may restart the service`,
      );
    });
    pending.add(sending);
    void sending.finally(() => pending.delete(sending));
  };

  return {
    name: 'sd-notify',
    start(handle) {
      const latest = handle.latest();
      send([
        'READY=1',
        `STATUS=${latest ? `${latest.state}: ${latest.reason}` : 'running'}`,
        ...lengthenWatchdog(handle.context?.config),
      ]);
      let lastWatchdog = now();
      let lastState = latest?.state;
      const onSnapshot = (snapshot: { state: string; reason: string }): void => {
        const fields: string[] = [];
        if (now() - lastWatchdog >= watchdogEveryMs) {
          fields.push('WATCHDOG=1');
          lastWatchdog = now();
        }
        if (snapshot.state !== lastState) {
          fields.push(`STATUS=${snapshot.state}: ${snapshot.reason}`.slice(0, 500));
          lastState = snapshot.state as typeof lastState;
        }
        if (fields.length > 0) send(fields);
      };
      const onStopping = ({ reason }: { reason: string }): void =>
        send(['STOPPING=1', `STATUS=stopping: ${reason}`]);
      const onReload = ({ config }: { config: Config }): void => {
        const fields = lengthenWatchdog(config);
        if (fields.length > 0) send(fields);
      };
      handle.events.on('snapshot', onSnapshot);
      handle.events.on('supervisor:stopping', onStopping);
      handle.events.on('config:reload', onReload);
      return {
        stop: async () => {
          handle.events.off('snapshot', onSnapshot);
          handle.events.off('supervisor:stopping', onStopping);
          handle.events.off('config:reload', onReload);
          // Let STOPPING=1 (sent on 'supervisor:stopping') reach systemd before the process exits.
          await Promise.allSettled([...pending]);
        },
      };
    },
  };
}
