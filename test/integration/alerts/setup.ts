import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAlertService } from '../../../src/alerts/service.js';
import type { Notification } from '../../../src/alerts/types.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import type { SupervisorHandle } from '../../../src/daemon/types.js';
import type { Context } from '../../../src/context.js';
import { makeTempDir, type TestCluster } from '../../helpers/cluster.js';
import { supervisorContext } from '../daemon/context.js';
import { startReceiver } from '../../helpers/receiver.js';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Three real channels (webhook, PagerDuty-compatible receiver, command) on loopback and a temp dir. */
export async function startChannels(): Promise<{
  webhook: Receiver;
  pagerduty: Receiver;
  dir: string;
  commandOutput: string;
  channels: Array<Record<string, unknown>>;
  commandLines(): Promise<Notification[]>;
  close(): Promise<void>;
}> {
  const webhook = await startReceiver();
  const pagerduty = await startReceiver();
  const dir = await makeTempDir('pgf-alerts-');
  const commandOutput = join(dir, 'command.jsonl');
  return {
    webhook,
    pagerduty,
    dir,
    commandOutput,
    channels: [
      { type: 'webhook', name: 'hook', url: `${webhook.url}/alerts`, retryDelayMs: 100 },
      { type: 'pagerduty', name: 'pd', routingKey: 'R0UT1NGKEY', url: `${pagerduty.url}/v2/enqueue` },
      // The program appends the JSON it reads on stdin: argument array, no shell string from input.
      { type: 'command', name: 'cmd', command: '/bin/sh', args: ['-c', 'cat >> "$0"', commandOutput] },
    ],
    async commandLines() {
      const text = await readFile(commandOutput, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Notification);
    },
    async close() {
      await webhook.close();
      await pagerduty.close();
    },
  };
}

/** A supervisor over real clusters with the alert service plugged in, as `pgfollower run` does. */
export async function startAlertingSupervisor(
  leader: TestCluster,
  follower: TestCluster,
  options: {
    slot?: string;
    alerts: Record<string, unknown>;
    stateFile: string;
    intervalMs?: number;
    node?: Record<string, unknown>;
    maintenanceFile?: string;
  },
): Promise<{ supervisor: SupervisorHandle; ctx: Context; notifications: Notification[] }> {
  const ctx = await supervisorContext(leader, follower, {
    slot: options.slot,
    intervalMs: options.intervalMs,
    node: options.node,
    extra: { alerts: options.alerts },
  });
  const notifications: Notification[] = [];
  const supervisor = await startSupervisor(ctx, {
    maxBackoffMs: 1000,
    http: false,
    services: [
      createAlertService({
        stateFile: options.stateFile,
        maintenanceFile: options.maintenanceFile,
        onNotification: (n) => notifications.push(n),
      }),
    ],
  });
  return { supervisor, ctx, notifications };
}

export function bodies(receiver: Receiver): Array<Record<string, unknown>> {
  return receiver.received.map((r) => r.body as Record<string, unknown>);
}
