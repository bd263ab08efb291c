import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createChannel } from '../../../src/alerts/channels/index.js';
import { acceptsNotification } from '../../../src/alerts/channels/channel.js';
import { formatPagerDutyEvent } from '../../../src/alerts/channels/pagerduty.js';
import { formatSlackMessage } from '../../../src/alerts/channels/slack.js';
import { createDispatcher, deliverWithRetry } from '../../../src/alerts/deliver.js';
import { createAlertMetrics } from '../../../src/alerts/metrics.js';
import type { Notification } from '../../../src/alerts/types.js';
import { channelSchema } from '../../../src/config/sections/alerts.js';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { startReceiver } from '../../helpers/receiver.js';

const firing: Notification = {
  kind: 'alert',
  status: 'firing',
  alert: 'lag-bytes',
  severity: 'critical',
  node: 'replica-a',
  value: 2_000_000_000,
  threshold: 1_073_741_824,
  message: 'replica-a replay is 1.9 GB behind the leader',
  startsAt: '2026-01-01T03:00:00.000Z',
  dedupKey: 'pgfollower/replica-a/lag-bytes',
};
const resolved: Notification = {
  ...firing,
  status: 'resolved',
  endsAt: '2026-01-01T03:10:00.000Z',
  message: 'resolved: fine',
};

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function receiver(respond?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(respond);
  closers.push(r.close);
  return r;
}

const signal = new AbortController().signal;
const deps = () => ({ signal, logger: createSilentLogger(), metrics: createAlertMetrics() });

function configError(yaml: string, mode = 0o600): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-alerts-cfg-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, yaml, { mode });
  chmodSync(file, mode);
  try {
    loadConfig({ file, env: {} });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.key}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('alerts config', () => {
  it('fills rule defaults from the issue (60 s / 64 MB warning, 300 s / 1 GB critical)', () => {
    const config = loadConfig({ env: {} });
    expect(config.alerts.rules.lagBytes).toMatchObject({
      warning: 64 * 1024 * 1024,
      critical: 1024 ** 3,
      for: 30_000,
    });
    expect(config.alerts.rules.lagSeconds).toMatchObject({ warning: 60_000, critical: 300_000 });
    expect(config.alerts.rules.stalled.severity).toBe('critical');
    expect(config.alerts.channels).toEqual([]);
  });

  it('validates every channel key and names the path of each problem', () => {
    const problems = configError(`alerts:
  rules:
    lagBytes: { warning: 2GB, for: soon }
  channels:
    - { type: webhook, url: "ftp://x/y", retry: 3 }
    - { type: pagerduty }
    - { type: sms, to: "+1" }
    - { type: command, command: /bin/true, timeoutMs: 5 minutes please }
`);
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'alerts.channels.0.retry',
      'alerts.channels.0.url',
      'alerts.channels.1.routingKey',
      'alerts.channels.2.type',
      'alerts.channels.3.timeoutMs',
      'alerts.rules.lagBytes.for',
    ]);
    expect(problems.find((p) => p.startsWith('alerts.channels.0.url'))).toMatch(/http:\/\/ or https:\/\//);
    // Cross-key checks run once the keys themselves are valid.
    expect(
      configError(`alerts:
  rules: { lagBytes: { warning: 2GB, critical: 1GB } }
  channels:
    - { type: command, command: /bin/true, name: a }
    - { type: slack, webhookUrl: "https://hooks.slack.com/x", name: a }
`).map((p) => p.split(':')[0]),
    ).toEqual(['alerts.rules.lagBytes.critical', 'alerts.channels.1.name']);
  });

  it('rejects a misspelt alert name in a channel filter', () => {
    const problems = configError(`alerts:
  channels:
    - { type: webhook, url: "http://127.0.0.1:1/", alerts: [stalled, lag-byte] }
`);
    expect(problems).toEqual([
      expect.stringMatching(/^alerts\.channels\.0\.alerts\.1: an alert name: lag-bytes, /),
    ]);
  });

  it('refuses a world-readable file holding a channel secret (routing key, Slack URL, Authorization header)', () => {
    for (const channel of [
      '{ type: pagerduty, routingKey: abc }',
      '{ type: slack, webhookUrl: "https://hooks.slack.com/x" }',
      '{ type: webhook, url: "https://x.example/", headers: { Authorization: "Bearer t" } }',
    ]) {
      expect(configError(`alerts:\n  channels:\n    - ${channel}\n`, 0o644)).toEqual([
        expect.stringMatching(/world-readable; run: chmod 600/),
      ]);
    }
  });

  it('parses a full channel with sizes and durations', () => {
    const channel = channelSchema.parse({
      type: 'webhook',
      url: 'http://127.0.0.1:1/x',
      timeoutMs: '2s',
      headers: { Authorization: 'Bearer t' },
    });
    expect(channel).toMatchObject({ timeoutMs: 2000, retries: 3, minSeverity: 'warning', lifecycle: false });
  });
});

describe('alert channels', () => {
  it('webhook POSTs the notification JSON', async () => {
    const r = await receiver();
    const channel = createChannel(
      channelSchema.parse({ type: 'webhook', url: `${r.url}/hook`, headers: { 'x-token': 't' } }),
      0,
    );
    const result = await deliverWithRetry(channel, firing, deps());
    expect(result).toMatchObject({ ok: true, attempts: 1, channel: 'webhook-1' });
    expect(r.received[0]?.path).toBe('/hook');
    expect(r.received[0]?.headers['x-token']).toBe('t');
    expect(r.received[0]?.body).toEqual(firing);
  });

  it('retries 5xx with backoff, gives up after `retries`, and counts each failure', async () => {
    const r = await receiver((_req, i) => (i < 2 ? 503 : 202));
    const d = deps();
    const channel = createChannel(
      channelSchema.parse({ type: 'webhook', url: r.url, retries: 3, retryDelayMs: 10 }),
      0,
    );
    expect(await deliverWithRetry(channel, firing, d)).toMatchObject({ ok: true, attempts: 3 });
    const failing = await receiver(() => 500);
    const dead = createChannel(
      channelSchema.parse({ type: 'webhook', url: failing.url, retries: 2, retryDelayMs: 10, name: 'dead' }),
      1,
    );
    const result = await deliverWithRetry(dead, firing, d);
    expect(result).toMatchObject({ ok: false, attempts: 3 });
    expect(result.error).toMatch(/HTTP 500/);
    const metrics = await d.metrics.registry.getMetricsAsJSON();
    const errors = metrics.find((m) => m.name === 'pgfollower_alert_delivery_errors_total');
    expect(errors?.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { channel: 'dead' }, value: 3 }),
        expect.objectContaining({ labels: { channel: 'webhook-1' }, value: 2 }),
      ]),
    );
  });

  it('does not retry a 4xx (wrong URL or key) and times out a hanging receiver', async () => {
    const r = await receiver(() => 400);
    const channel = createChannel(channelSchema.parse({ type: 'webhook', url: r.url, retryDelayMs: 10 }), 0);
    expect(await deliverWithRetry(channel, firing, deps())).toMatchObject({ ok: false, attempts: 1 });
    const hang = await receiver(() => new Promise<number>(() => undefined));
    const slow = createChannel(
      channelSchema.parse({ type: 'webhook', url: hang.url, timeoutMs: 200, retries: 1, retryDelayMs: 10 }),
      0,
    );
    const started = Date.now();
    const result = await deliverWithRetry(slow, firing, deps());
    expect(result).toMatchObject({ ok: false, attempts: 2 });
    expect(result.error).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a dead channel never delays another one (separate queues)', async () => {
    const hang = await receiver(() => new Promise<number>(() => undefined));
    const ok = await receiver();
    const controller = new AbortController();
    const dispatcher = createDispatcher({
      channels: [
        createChannel(
          channelSchema.parse({ type: 'webhook', url: hang.url, timeoutMs: '30s', retries: 0 }),
          0,
        ),
        createChannel(channelSchema.parse({ type: 'webhook', url: ok.url }), 1),
      ],
      logger: createSilentLogger(),
      metrics: createAlertMetrics(),
      signal: controller.signal,
    });
    dispatcher.enqueue(firing);
    dispatcher.enqueue(resolved);
    await ok.waitFor((r) => (r.body as Notification).status === 'resolved', 5000);
    expect(ok.received.map((r) => (r.body as Notification).status)).toEqual(['firing', 'resolved']);
    controller.abort();
    expect(await dispatcher.drain(5000)).toBe(true);
  });

  it('filters by severity, alert names and lifecycle opt-in', () => {
    const base = channelSchema.parse({ type: 'webhook', url: 'http://127.0.0.1:1/' });
    const critOnly = channelSchema.parse({
      type: 'webhook',
      url: 'http://127.0.0.1:1/',
      minSeverity: 'critical',
      alerts: ['stalled'],
    });
    const lifecycle = {
      ...firing,
      kind: 'lifecycle' as const,
      status: 'event' as const,
      severity: 'info' as const,
      alert: 'promote',
    };
    expect(acceptsNotification(base, { ...firing, severity: 'warning' })).toBe(true);
    expect(acceptsNotification(critOnly, firing)).toBe(false);
    expect(acceptsNotification(critOnly, { ...firing, alert: 'stalled' })).toBe(true);
    expect(acceptsNotification(base, lifecycle)).toBe(false);
    expect(acceptsNotification({ ...base, lifecycle: true }, lifecycle)).toBe(true);
  });

  it('formats PagerDuty trigger/resolve with the same dedup_key', () => {
    const trigger = formatPagerDutyEvent('key', firing);
    expect(trigger).toMatchObject({
      routing_key: 'key',
      event_action: 'trigger',
      dedup_key: 'pgfollower/replica-a/lag-bytes',
      payload: { source: 'replica-a', severity: 'critical', class: 'lag-bytes', timestamp: firing.startsAt },
    });
    expect(formatPagerDutyEvent('key', resolved)).toEqual({
      routing_key: 'key',
      event_action: 'resolve',
      dedup_key: 'pgfollower/replica-a/lag-bytes',
    });
    const long = formatPagerDutyEvent('key', { ...firing, message: 'x'.repeat(5000) }) as {
      payload: { summary: string };
    };
    expect(long.payload.summary.length).toBe(1024);
  });

  it('formats Slack incoming-webhook messages', () => {
    const message = formatSlackMessage(firing, '#db');
    expect(message).toMatchObject({ channel: '#db' });
    expect(message.text).toMatch(/^:rotating_light: CRITICAL lag-bytes on replica-a: /);
    expect(formatSlackMessage(resolved).text).toMatch(/^:white_check_mark: RESOLVED lag-bytes/);
  });

  it('command channel gets the JSON on stdin and PGFOLLOWER_ALERT_* variables; a failing program is a failed delivery', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-alert-cmd-'));
    const script = join(dir, 'notify.sh');
    writeFileSync(
      script,
      '#!/bin/sh\ncat > "$1/stdin.json"\nenv | grep ^PGFOLLOWER_ALERT_ | sort > "$1/env.txt"\nexit "${2:-0}"\n',
    );
    chmodSync(script, 0o755);
    const ok = createChannel(channelSchema.parse({ type: 'command', command: script, args: [dir] }), 0);
    expect(await deliverWithRetry(ok, firing, deps())).toMatchObject({ ok: true });
    expect(JSON.parse(readFileSync(join(dir, 'stdin.json'), 'utf8'))).toEqual(firing);
    const env = readFileSync(join(dir, 'env.txt'), 'utf8');
    expect(env).toContain('PGFOLLOWER_ALERT_NAME=lag-bytes\n');
    expect(env).toContain('PGFOLLOWER_ALERT_SEVERITY=critical\n');
    expect(env).toContain('PGFOLLOWER_ALERT_DEDUP_KEY=pgfollower/replica-a/lag-bytes\n');
    expect(env).toContain('PGFOLLOWER_ALERT_VALUE=2000000000\n');
    const failing = createChannel(
      channelSchema.parse({
        type: 'command',
        command: script,
        args: [dir, '3'],
        retries: 1,
        retryDelayMs: 10,
      }),
      0,
    );
    const result = await deliverWithRetry(failing, firing, deps());
    expect(result).toMatchObject({ ok: false, attempts: 2 });
    expect(result.error).toMatch(/exited with status 3/);
    const missing = createChannel(channelSchema.parse({ type: 'command', command: join(dir, 'nope') }), 0);
    expect(await deliverWithRetry(missing, firing, deps())).toMatchObject({ ok: false, attempts: 1 });
    // Issue 14 defect 11: a killed program is named as such (and retried), not "cannot run".
    const killed = createChannel(
      channelSchema.parse({
        type: 'command',
        command: 'sh',
        args: ['-c', 'kill -TERM $$'],
        retries: 1,
        retryDelayMs: 10,
      }),
      0,
    );
    const killedResult = await deliverWithRetry(killed, firing, deps());
    expect(killedResult).toMatchObject({ ok: false, attempts: 2 });
    expect(killedResult.error).toMatch(/sh was killed by signal SIGTERM/);
  });
});
