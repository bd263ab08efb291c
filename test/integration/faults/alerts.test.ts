import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cloneFollower,
  createLeader,
  makeTempDir,
  writeConfigFile,
  type TestCluster,
  followerNodeSection,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import {
  startHttpFaultProxy,
  type HttpFaultMode,
  type HttpFaultProxy,
} from '../../helpers/faults/http-fault-proxy.js';
import { injectFault } from '../../helpers/faults/ledger.js';
import { startAlertingSupervisor } from '../alerts/setup.js';
import { startReceiver } from '../../helpers/receiver.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { startRunProcess } from './run-process.js';
import { faultTestTimeoutMs } from './scaffold.js';

/**
 * Alert delivery under faults of the receiver (webhook behind a proxy that answers 500, refuses
 * connections or hangs) and a SIGKILLed supervisor. Invariant: each firing and each resolved
 * notification is acknowledged by the receiver exactly once (the receiver counts only requests
 * that reached it and were answered 2xx; a request the proxy swallowed was never acknowledged).
 */
useFaultCleanup();

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

function count(r: Receiver, status: string, alert = 'disconnected'): number {
  return r.received.filter((x) => {
    const body = x.body as { status?: string; alert?: string };
    return body.status === status && body.alert === alert;
  }).length;
}

/** Disconnected fires at once and clears at once: one leader stop is one firing, one start one resolved. */
const fastRules = { disconnected: { for: 0, clearFor: 0 }, localUnreachable: { for: 60_000 } };

function webhook(proxy: HttpFaultProxy): Record<string, unknown> {
  return {
    type: 'webhook',
    name: 'hook',
    url: `${proxy.url}/alerts`,
    retries: 4,
    retryDelayMs: 300,
    timeoutMs: 1500,
  };
}

async function pair(): Promise<{ leader: TestCluster; follower: TestCluster }> {
  const leader = await createLeader();
  const follower = await cloneFollower(leader);
  return { leader, follower };
}

describe('faults: alert delivery', { timeout: faultTestTimeoutMs }, () => {
  beforeAll(requireBuiltCli);

  it('receiver answering 500, refusing, hanging: each notification acknowledged exactly once', async () => {
    const rx = await startReceiver();
    receiver = rx;
    const proxy = await startHttpFaultProxy({ port: Number(new URL(rx.url).port) });
    const { leader, follower } = await pair();
    const dir = await makeTempDir('pgf-alert-f-');
    const { supervisor } = await startAlertingSupervisor(leader, follower, {
      alerts: { channels: [webhook(proxy)], rules: fastRules, rateLimitMs: 0 },
      stateFile: join(dir, 'alerts.json'),
      intervalMs: 300,
    });
    try {
      const modes: HttpFaultMode[] = ['error500', 'down', 'hang'];
      for (const [i, mode] of modes.entries()) {
        const fault = injectFault('alert delivery', `receiver ${mode}`);
        await proxy.setMode(mode);
        const seen = proxy.log.length;
        await leader.stop();
        // Reality: the first attempt failed (500 or hung), or for `down` the state changed.
        if (mode === 'down') {
          await waitFor('disconnected', async () => supervisor.latest()?.state === 'disconnected');
          await new Promise((r) => setTimeout(r, 300)); // one refused attempt happens at once
        } else {
          await waitFor(`a failed attempt (${mode})`, async () => proxy.log.length > seen);
        }
        await proxy.setMode('pass');
        await waitFor(`firing #${i + 1} acknowledged`, async () => count(rx, 'firing') === i + 1, {
          timeoutMs: 30_000,
        });
        await leader.start();
        await waitFor(`resolved #${i + 1} acknowledged`, async () => count(rx, 'resolved') === i + 1, {
          timeoutMs: 60_000,
        });
        fault.survived();
      }
      // Nothing arrives twice later on (a retry that overtook its acknowledgement).
      await new Promise((r) => setTimeout(r, 2000));
      expect(count(rx, 'firing')).toBe(modes.length);
      expect(count(rx, 'resolved')).toBe(modes.length);
    } finally {
      await supervisor.stop('test over');
      await follower.stop();
      await leader.stop();
    }
  });

  // Found with the fault matrix: when the receiver was down for longer than the channel's retries,
  // the firing notification was dropped and not sent again until repeatIntervalMs (4 h by default).
  // It now stays owed and is sent again with a growing backoff until the channel takes it.
  it('receiver down longer than the retry budget: the firing notification still arrives', async () => {
    const rx = await startReceiver();
    receiver = rx;
    const proxy = await startHttpFaultProxy({ port: Number(new URL(rx.url).port) });
    const { leader, follower } = await pair();
    const dir = await makeTempDir('pgf-alert-l-');
    const { supervisor } = await startAlertingSupervisor(leader, follower, {
      alerts: { channels: [{ ...webhook(proxy), retries: 1, retryDelayMs: 100 }], rules: fastRules },
      stateFile: join(dir, 'alerts.json'),
      intervalMs: 300,
    });
    try {
      await proxy.setMode('error500');
      await leader.stop();
      await waitFor(
        'two failed attempts',
        async () => proxy.log.filter((l) => l.outcome === '500').length >= 2,
      );
      await new Promise((r) => setTimeout(r, 1000));
      await proxy.setMode('pass');
      await waitFor('the firing notification after the outage', async () => count(rx, 'firing') === 1, {
        timeoutMs: 30_000,
      });
    } finally {
      await supervisor.stop('test over');
      await follower.stop();
      await leader.stop();
    }
  });

  it('supervisor SIGKILLed while an alert fires and while its delivery hangs: not lost, not repeated', async () => {
    const rx = await startReceiver();
    receiver = rx;
    const proxy = await startHttpFaultProxy({ port: Number(new URL(rx.url).port) });
    const { leader, follower } = await pair();
    const dir = await makeTempDir('pgf-alert-k-');
    const listen = `127.0.0.1:${await getPort()}`;
    const stateFile = join(dir, 'alerts.json');
    const configFile = await writeConfigFile(dir, {
      node: followerNodeSection(follower),
      leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 },
      slot: { enabled: false },
      monitor: { intervalMs: 300, queryTimeoutMs: 2000 },
      http: { listen },
      log: { level: 'warn', format: 'json' },
      archive: { type: 'none' },
      alerts: { stateFile, channels: [webhook(proxy)], rules: fastRules, rateLimitMs: 0 },
    });
    let run = startRunProcess(configFile, listen);
    try {
      await run.ready();
      // 1. Killed after the firing was acknowledged: the restart must not page again.
      const f1 = injectFault('alert delivery', 'kill -9 supervisor after a firing was sent');
      await leader.stop();
      await waitFor('firing acknowledged', async () => count(rx, 'firing') === 1, {
        timeoutMs: 30_000,
      });
      // Delivery is at least once: a kill between the receiver's 2xx and the state write re-sends
      // (receivers dedupe by dedupKey). Here the kill comes after the acknowledgement was recorded.
      await waitFor('the acknowledgement recorded in the state file', async () => {
        const text = await readFile(stateFile, 'utf8').catch(() => '');
        return text.includes('disconnected') && !text.includes('"outbox"');
      });
      await run.kill9();
      run = startRunProcess(configFile, listen);
      await run.ready();
      await waitFor(
        'the restarted supervisor to see the leader down',
        async () => (await run.status())?.state === 'disconnected',
      );
      await new Promise((r) => setTimeout(r, 1500)); // five ticks: time to (wrongly) page again
      expect(count(rx, 'firing'), run.output()).toBe(1);
      await leader.start();
      await waitFor('resolved acknowledged', async () => count(rx, 'resolved') === 1, {
        timeoutMs: 60_000,
      });
      f1.survived();

      // 2. Killed while the firing's delivery hangs: after the restart it is delivered, once.
      const f2 = injectFault('alert delivery', 'kill -9 supervisor while a delivery hangs');
      await proxy.setMode('hang');
      const seen = proxy.log.length;
      await leader.stop();
      await waitFor('a hung delivery attempt', async () => proxy.log.length > seen, { timeoutMs: 30_000 });
      await run.kill9();
      await proxy.setMode('pass');
      run = startRunProcess(configFile, listen);
      await run.ready();
      await waitFor('the owed firing delivered after the restart', async () => count(rx, 'firing') === 2, {
        timeoutMs: 30_000,
      });
      await leader.start();
      await waitFor('resolved acknowledged', async () => count(rx, 'resolved') === 2, {
        timeoutMs: 60_000,
      });
      await new Promise((r) => setTimeout(r, 1500));
      expect(count(rx, 'firing')).toBe(2);
      expect(count(rx, 'resolved')).toBe(2);
      f2.survived();
    } finally {
      await run.stop();
      await follower.stop();
      await leader.stop();
    }
  });
});
