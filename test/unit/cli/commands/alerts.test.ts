import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { createMemoryOutput } from '../../../../src/cli/output.js';
import type { Notification } from '../../../../src/alerts/types.js';
import { writeConfigFile } from '../../../helpers/cluster.js';
import { startReceiver } from '../../../helpers/receiver.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('pgfollower alerts test', () => {
  it('sends firing then resolved through every channel and exits 0', async () => {
    const hook = await startReceiver();
    const pd = await startReceiver();
    closers.push(hook.close, pd.close);
    const file = await writeConfigFile(mkdtempSync(`${tmpdir()}/pgf-alerts-cli-`), {
      node: { name: 'replica-a' },
      log: { level: 'silent' },
      alerts: {
        channels: [
          { type: 'webhook', url: `${hook.url}/hook`, name: 'ops' },
          { type: 'pagerduty', routingKey: 'R0UT1NG', url: `${pd.url}/v2/enqueue` },
        ],
      },
    });
    const out = createMemoryOutput();
    const code = await main(['--config', file, 'alerts', 'test'], { output: out, env: {} });
    expect(code, out.text()).toBe(0);
    expect(hook.received.map((r) => (r.body as Notification).status)).toEqual(['firing', 'resolved']);
    expect(hook.received[0]?.body).toMatchObject({
      alert: 'test',
      kind: 'test',
      node: 'replica-a',
      severity: 'info',
    });
    expect(pd.received.map((r) => r.body)).toEqual([
      expect.objectContaining({
        event_action: 'trigger',
        dedup_key: 'pgfollower/replica-a/test',
        routing_key: 'R0UT1NG',
      }),
      { event_action: 'resolve', dedup_key: 'pgfollower/replica-a/test', routing_key: 'R0UT1NG' },
    ]);
    expect(out.text()).toMatch(/\[ ok \] ops \(webhook\) firing: delivered/);
    expect(out.text()).toMatch(/\[ ok \] pagerduty-2 \(pagerduty\) resolved/);
  });

  it('exits 1 and names the failing channel; --channel picks one; no channels is a usage error', async () => {
    const dead = await startReceiver(() => 403);
    const ok = await startReceiver();
    closers.push(dead.close, ok.close);
    const dir = mkdtempSync(`${tmpdir()}/pgf-alerts-cli-`);
    const file = await writeConfigFile(dir, {
      node: { name: 'replica-a' },
      log: { level: 'silent' },
      alerts: {
        channels: [
          { type: 'slack', webhookUrl: `${dead.url}/slack`, name: 'slack' },
          { type: 'webhook', url: ok.url, name: 'ops' },
        ],
      },
    });
    const out = createMemoryOutput();
    expect(await main(['--config', file, 'alerts', 'test', '--json'], { output: out, env: {} })).toBe(1);
    const report = JSON.parse(out.stdout.join('\n')) as {
      ok: boolean;
      results: Array<{ channel: string; ok: boolean; error?: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.results.find((r) => r.channel === 'slack')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/HTTP 403/),
    });
    expect(report.results.filter((r) => r.channel === 'ops').every((r) => r.ok)).toBe(true);

    const one = createMemoryOutput();
    expect(
      await main(['--config', file, 'alerts', 'test', '--channel', 'ops'], { output: one, env: {} }),
    ).toBe(0);
    const unknown = createMemoryOutput();
    expect(
      await main(['--config', file, 'alerts', 'test', '--channel', 'nope'], { output: unknown, env: {} }),
    ).toBe(2);
    expect(unknown.text()).toMatch(/no alert channel named "nope"; configured: slack, ops/);

    const empty = await writeConfigFile(dir, { log: { level: 'silent' } });
    const none = createMemoryOutput();
    expect(await main(['--config', empty, 'alerts', 'test'], { output: none, env: {} })).toBe(2);
    expect(none.text()).toMatch(/no alert channels configured/);
  });
});

describe('pgfollower alerts status', () => {
  it('lists firing, held and pending alerts and unconfirmed notifications from the state file', async () => {
    const { saveAlertState } = await import('../../../../src/alerts/state-file.js');
    const dir = mkdtempSync(`${tmpdir()}/pgf-alerts-status-`);
    const stateFile = `${dir}/alerts.json`;
    const now = Date.now();
    const base = { escalatingSince: null, clearingSince: null, value: null, threshold: null };
    await saveAlertState(
      stateFile,
      {
        version: 1,
        alerts: {
          stalled: {
            ...base,
            alert: 'stalled',
            phase: 'firing',
            severity: 'critical',
            since: now - 120_000,
            firedAt: now - 120_000,
            notifiedAt: now - 60_000,
            message: 'needs WAL X',
          },
          'lag-bytes': {
            ...base,
            alert: 'lag-bytes',
            phase: 'firing',
            severity: 'warning',
            since: now - 5000,
            firedAt: now - 5000,
            notifiedAt: null,
            message: 'behind',
          },
          disconnected: {
            ...base,
            alert: 'disconnected',
            phase: 'pending',
            severity: 'critical',
            since: now - 1000,
            firedAt: null,
            notifiedAt: null,
            message: 'no WAL',
          },
        },
        history: {},
      },
      [
        {
          notification: {
            kind: 'alert',
            status: 'firing',
            alert: 'stalled',
            severity: 'critical',
            node: 'n',
            value: null,
            threshold: null,
            message: 'm',
            startsAt: '',
            dedupKey: 'k',
          },
          channels: ['pd'],
        },
      ],
    );
    const file = await writeConfigFile(dir, { log: { level: 'silent' }, alerts: { stateFile } });
    const out = createMemoryOutput();
    expect(await main(['--config', file, 'alerts', 'status'], { output: out, env: {} })).toBe(0);
    const text = out.text();
    // Durations are measured from the state's timestamps to the command's own clock: under load the
    // command may start a second or two after `now`, so the seconds are matched as a small range.
    expect(text).toMatch(/^FIRING {2}critical stalled for 2m, last sent 1m ago: needs WAL X$/m);
    expect(text).toMatch(
      /^FIRING {2}warning {2}lag-bytes for [5-9]s, held by the rate limit \(not sent\): behind$/m,
    );
    expect(text).toMatch(/^pending critical disconnected for [1-5]s, not sent yet/m);
    expect(text).toMatch(/1 notification\(s\) not yet confirmed by pd/);

    const empty = await writeConfigFile(dir, {
      log: { level: 'silent' },
      alerts: { stateFile: `${dir}/none.json` },
    });
    const none = createMemoryOutput();
    expect(await main(['--config', empty, 'alerts', 'status'], { output: none, env: {} })).toBe(0);
    expect(none.text()).toMatch(/no alerts firing or pending/);
  });
});
