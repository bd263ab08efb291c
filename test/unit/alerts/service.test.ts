import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { notifyLifecycle } from '../../../src/alerts/notify.js';
import { createAlertService } from '../../../src/alerts/service.js';
import type { AlertState, Notification } from '../../../src/alerts/types.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import type { SupervisorEmitter, SupervisorHandle } from '../../../src/daemon/types.js';
import { createExec } from '../../../src/exec/run.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import type { SupervisorEvents } from '../../../src/monitor/events.js';
import { startReceiver } from '../../helpers/receiver.js';
import { waitFor } from '../../helpers/wait.js';
import { makeSnapshot } from './snapshots.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function makeContext(
  alerts: Record<string, unknown>,
  node: Record<string, unknown> = { name: 'replica-a' },
): Context {
  return {
    config: loadConfig({ env: {}, overrides: { node, alerts } }),
    logger: createSilentLogger(),
    exec: createExec(),
    bin: { binDir: '/nonexistent', major: 15, path: (n: string) => n },
    clock: systemClock,
    signal: new AbortController().signal,
    reporter: silentReporter,
  };
}

/** The parts of a SupervisorHandle the alert service uses. */
function fakeHandle(
  ctx: Context,
): SupervisorHandle & { events: SupervisorEmitter; setConfig(c: Context['config']): void } {
  let context = ctx;
  const events = new EventEmitter<SupervisorEvents>();
  return {
    get context() {
      return context;
    },
    setConfig(config) {
      context = { ...context, config };
    },
    done: new Promise<void>(() => undefined),
    signal: ctx.signal,
    events,
    metrics: new Registry(),
    latest: () => undefined,
    httpAddress: () => undefined,
    reload: () => undefined,
    stop: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
}

describe('alert service', () => {
  it('writes the state again after a failed write, although nothing changed since', async () => {
    const { rmSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'pgf-alert-svc-'));
    // A file where the state directory should be: the first write fails (ENOTDIR).
    writeFileSync(join(dir, 'state'), 'not a directory');
    const stateFile = join(dir, 'state', 'alerts.json');
    const { Writable } = await import('node:stream');
    const { createLogger } = await import('../../../src/logging/logger.js');
    const logged: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    const handle = fakeHandle({
      ...makeContext({ channels: [] }),
      logger: createLogger({ level: 'error', format: 'json', destination }),
    });
    const running = await createAlertService({ stateFile }).start(handle);
    const t = Date.now();
    handle.events.emit('snapshot', makeSnapshot(t, { state: 'stalled' }));
    await waitFor(
      'the failed state write logged',
      () => logged.some((l) => l.includes('cannot write alert state')),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect(existsSync(stateFile)).toBe(false);
    rmSync(join(dir, 'state'));
    // The same facts again: the state text is unchanged, but it never reached the disk.
    handle.events.emit('snapshot', makeSnapshot(t + 1000, { state: 'stalled' }));
    await running.stop();
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as AlertState;
    expect(saved.alerts.stalled?.phase).toBe('firing');
  });

  it('persists the firing alert before delivering it, forwards lifecycle events, reloads channels', async () => {
    const first = await startReceiver();
    const second = await startReceiver();
    closers.push(first.close, second.close);
    const dir = mkdtempSync(join(tmpdir(), 'pgf-alert-svc-'));
    const stateFile = join(dir, 'alerts.json');
    let persistedAtDelivery: AlertState | undefined;
    const ctx = makeContext({
      channels: [{ type: 'webhook', url: first.url, lifecycle: true }],
    });
    const handle = fakeHandle(ctx);
    const running = await createAlertService({
      stateFile,
      onDelivered: () => {
        persistedAtDelivery ??= JSON.parse(readFileSync(stateFile, 'utf8')) as AlertState;
      },
    }).start(handle);

    handle.events.emit('snapshot', makeSnapshot(Date.now(), { state: 'stalled' }));
    await first.waitFor((r) => (r.body as Notification).alert === 'stalled', 5000);
    await waitFor('a delivery after the state was persisted', () => persistedAtDelivery, {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(persistedAtDelivery?.alerts.stalled?.phase).toBe('firing');
    // The page was in the outbox on disk before it was sent.
    expect((persistedAtDelivery as { outbox?: unknown[] } | undefined)?.outbox).toHaveLength(1);

    handle.events.emit('lifecycle', { kind: 'promote', node: 'replica-a', message: 'promoted; timeline 2' });
    const notice = await first.waitFor((r) => (r.body as Notification).kind === 'lifecycle', 5000);
    expect(notice.body).toMatchObject({
      status: 'event',
      alert: 'promote',
      severity: 'info',
      message: 'promoted; timeline 2',
    });

    // SIGHUP: the supervisor swaps the config and emits config:reload; new channels apply.
    const reloaded = makeContext({ channels: [{ type: 'webhook', url: second.url }] }).config;
    handle.setConfig(reloaded);
    handle.events.emit('config:reload', { config: reloaded });
    handle.events.emit('snapshot', makeSnapshot(Date.now() + 60_000, { state: 'streaming' }));
    handle.events.emit('snapshot', makeSnapshot(Date.now() + 100_000, { state: 'streaming' }));
    await second.waitFor((r) => (r.body as Notification).status === 'resolved', 5000);
    expect(first.received.filter((r) => (r.body as Notification).status === 'resolved')).toEqual([]);

    await running.stop();
    expect(existsSync(stateFile)).toBe(true);
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as AlertState).alerts).toEqual({});
    // firing + lifecycle to the first receiver, resolved to the reloaded one: both are webhook-1.
    expect(await handle.metrics.metrics()).toMatch(
      /pgfollower_alert_notifications_total\{channel="webhook-1",result="sent"\} 3/,
    );
    // Stopped: no more subscriptions.
    expect(handle.events.listenerCount('snapshot')).toBe(0);
  });

  it('keeps monitoring when a channel hangs, and stop() returns within its bound', async () => {
    const hang = await startReceiver(() => new Promise<number>(() => undefined));
    closers.push(hang.close);
    const ctx = makeContext({ channels: [{ type: 'webhook', url: hang.url, timeoutMs: '60s' }] });
    const handle = fakeHandle(ctx);
    const notified: Notification[] = [];
    const running = await createAlertService({
      stateFile: join(mkdtempSync(join(tmpdir(), 'pgf-alert-svc-')), 'a.json'),
      onNotification: (n) => notified.push(n),
    }).start(handle);
    const t = Date.now();
    handle.events.emit('snapshot', makeSnapshot(t, { state: 'stalled' }));
    handle.events.emit('snapshot', makeSnapshot(t + 60_000, { state: 'streaming' }));
    handle.events.emit('snapshot', makeSnapshot(t + 100_000, { state: 'streaming' }));
    // Evaluation is synchronous to the tick; the hanging POST does not hold it up.
    expect(notified.map((n) => n.status)).toEqual(['firing', 'resolved']);
    const started = Date.now();
    await running.stop();
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('re-sends after a restart what a stop cut off, and only to the channels still owed it', async () => {
    let hanging = true;
    const slow = await startReceiver(() => (hanging ? new Promise<number>(() => undefined) : 202));
    const fast = await startReceiver();
    closers.push(slow.close, fast.close);
    const stateFile = join(mkdtempSync(join(tmpdir(), 'pgf-alert-svc-')), 'a.json');
    const alerts = {
      channels: [
        { type: 'webhook', url: slow.url, name: 'slow', timeoutMs: '60s' },
        { type: 'webhook', url: fast.url, name: 'fast' },
      ],
    };
    const before = fakeHandle(makeContext(alerts));
    const first = await createAlertService({ stateFile }).start(before);
    before.events.emit('snapshot', makeSnapshot(Date.now(), { state: 'stalled' }));
    await fast.waitFor(() => true, 5000);
    await slow.waitFor(() => true, 5000);
    await first.stop();
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { outbox?: Array<{ channels: string[] }> };
    expect(saved.outbox?.map((e) => e.channels)).toEqual([['slow']]);

    hanging = false;
    const after = fakeHandle(makeContext(alerts));
    const second = await createAlertService({ stateFile }).start(after);
    await waitFor('2 notifications received', () => slow.received.length >= 2, {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(slow.received.map((r) => (r.body as Notification).status)).toEqual(['firing', 'firing']);
    expect(fast.received).toHaveLength(1);
    await second.stop();
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as { outbox?: unknown[] }).outbox).toBeUndefined();
  });
});

describe('notifyLifecycle', () => {
  it('sends only to lifecycle channels, PagerDuty as a change event, and never throws', async () => {
    const hook = await startReceiver();
    const pd = await startReceiver();
    closers.push(hook.close, pd.close);
    const ctx = makeContext({
      channels: [
        { type: 'webhook', url: `${hook.url}/quiet` },
        { type: 'webhook', url: `${hook.url}/loud`, lifecycle: true },
        {
          type: 'pagerduty',
          routingKey: 'K',
          url: `${pd.url}/v2/enqueue`,
          changeUrl: `${pd.url}/v2/change/enqueue`,
          lifecycle: true,
        },
        { type: 'webhook', url: 'http://127.0.0.1:9/', lifecycle: true, retries: 0, name: 'down' },
      ],
    });
    const results = await notifyLifecycle(ctx, {
      kind: 'bootstrap',
      message: 'bootstrap done: streaming from the leader',
    });
    expect(results.map((r) => [r.channel, r.ok])).toEqual([
      ['webhook-2', true],
      ['pagerduty-3', true],
      ['down', false],
    ]);
    expect(hook.received.map((r) => r.path)).toEqual(['/loud']);
    expect(hook.received[0]?.body).toMatchObject({
      kind: 'lifecycle',
      alert: 'bootstrap',
      node: 'replica-a',
      status: 'event',
    });
    expect(pd.received[0]?.path).toBe('/v2/change/enqueue');
    expect(pd.received[0]?.body).toMatchObject({
      routing_key: 'K',
      payload: {
        source: 'replica-a',
        summary: expect.stringMatching(/^bootstrap on replica-a: bootstrap done/),
      },
    });
  });
});
