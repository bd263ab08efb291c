import { execa } from 'execa';
import type { z } from 'zod';
import type { commandChannel } from '../../config/sections/alerts.js';
import type { Notification } from '../types.js';
import { DeliveryError, type Channel } from './channel.js';

/** The alert as environment variables, like repmgr's event notification command placeholders. */
function buildAlertEnvironment(notification: Notification): Record<string, string> {
  return {
    PGFOLLOWER_ALERT_KIND: notification.kind,
    PGFOLLOWER_ALERT_STATUS: notification.status,
    PGFOLLOWER_ALERT_NAME: notification.alert,
    PGFOLLOWER_ALERT_SEVERITY: notification.severity,
    PGFOLLOWER_ALERT_NODE: notification.node,
    PGFOLLOWER_ALERT_VALUE: notification.value === null ? '' : String(notification.value),
    PGFOLLOWER_ALERT_THRESHOLD: notification.threshold === null ? '' : String(notification.threshold),
    PGFOLLOWER_ALERT_MESSAGE: notification.message,
    PGFOLLOWER_ALERT_STARTS_AT: notification.startsAt,
    PGFOLLOWER_ALERT_ENDS_AT: notification.endsAt ?? '',
    PGFOLLOWER_ALERT_DEDUP_KEY: notification.dedupKey,
    PGFOLLOWER_ALERT_REPEAT: notification.repeat ? '1' : '0',
  };
}

/**
 * Runs the operator's program (argument array, no shell) with the alert as JSON on stdin and as
 * PGFOLLOWER_ALERT_* variables. Exit 0 is success; anything else is a failed attempt. It runs as
 * pgfollower's own user: it is the operator's program, not a PostgreSQL one.
 */
export function createCommandChannel(
  name: string,
  config: Readonly<z.infer<typeof commandChannel>>,
): Channel {
  return {
    name,
    type: 'command',
    config,
    async send(notification, signal) {
      const result = await execa(config.command, config.args, {
        input: `${JSON.stringify(notification)}\n`,
        env: buildAlertEnvironment(notification),
        extendEnv: true,
        cancelSignal: signal,
        forceKillAfterDelay: 2000,
        reject: false,
        stdout: 'pipe',
        stderr: 'pipe',
        encoding: 'utf8',
      });
      if (result.exitCode === 0 && !result.failed) return;
      const stderr = String(result.stderr ?? '')
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      if (result.isCanceled || signal.aborted) {
        const timedOut = signal.reason instanceof Error && signal.reason.name === 'TimeoutError';
        throw new DeliveryError(`command ${name}: ${timedOut ? 'timed out' : 'cancelled'}`, {
          retryable: true,
        });
      }
      if (result.signal !== undefined && result.exitCode === undefined) {
        // It ran and something killed it (OOM killer, an operator): worth another attempt.
        throw new DeliveryError(
          `command ${name}: ${config.command} was killed by signal ${result.signal}${stderr ? `: ${stderr}` : ''}`,
          { retryable: true },
        );
      }
      if (result.exitCode === undefined) {
        // Could not start (ENOENT, EACCES): another attempt will not find it either.
        throw new DeliveryError(`command ${name}: cannot run ${config.command}: ${result.shortMessage}`, {
          retryable: false,
        });
      }
      throw new DeliveryError(
        `command ${name}: ${config.command} exited with status ${result.exitCode}${stderr ? `: ${stderr}` : ''}`,
        { retryable: true, status: result.exitCode },
      );
    },
  };
}
