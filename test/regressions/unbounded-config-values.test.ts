import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Issue 15, defect 8: `monitor.intervalMs: 1e308`, `"30d"` or `0` made the daemon tick ~300 times a
 * second with thousands of TimeoutOverflowWarning lines. Every duration and size key has a sane
 * minimum and maximum, named in the error with the key.
 */
function problems(overrides: Record<string, unknown>): Map<string, string> {
  try {
    loadConfig({ overrides, env: {} });
    return new Map();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return new Map(error.problems.map((p) => [p.key, p.message]));
  }
}

/** Every duration and size key of the schema (channels are checked through one of each type). */
const durationKeys = [
  'leader.connectTimeoutMs',
  'monitor.intervalMs',
  'monitor.queryTimeoutMs',
  'archive.timeoutMs',
  'cluster.replayTimeoutMs',
  'alerts.repeatIntervalMs',
  'alerts.rateLimitMs',
  'alerts.rules.lagSeconds.warning',
  'alerts.rules.lagSeconds.for',
  'alerts.rules.lagSeconds.clearFor',
  'alerts.rules.disconnected.for',
  'alerts.rules.slotWalStatus.for',
  'alerts.rules.leaderWalFull.warning',
  'alerts.rules.leaderWalFull.clearFor',
  'alerts.rules.archiveGap.clearFor',
];
const sizeKeys = [
  'monitor.catchingUpBytes',
  'monitor.warnLagBytes',
  'monitor.critLagBytes',
  'cluster.maxDataLossBytes',
  'alerts.rules.lagBytes.warning',
];

function tree(key: string, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  const parts = key.split('.');
  for (const part of parts.slice(0, -1)) node = (node[part] = {}) as Record<string, unknown>;
  node[parts[parts.length - 1] as string] = value;
  return root;
}

describe('durations and sizes have a sane range', () => {
  for (const key of durationKeys) {
    it(`${key}: 1e308 and "30d" are refused with the range`, () => {
      for (const value of [1e308, '30d']) {
        const found = problems(tree(key, value));
        expect(found.get(key), `${key}=${value}`).toMatch(/out of range|too long/);
      }
    });
  }
  for (const key of sizeKeys) {
    it(`${key}: 1e308 bytes is refused`, () => {
      // A huge warning threshold is also above the critical one: either refusal names the key.
      expect(problems(tree(key, 1e308)).get(key)).toMatch(/not a size|out of range|warning threshold/);
      expect(problems(tree(key, '32TB')).get(key)).toMatch(/out of range|warning threshold/);
    });
  }

  it('monitor.intervalMs 0 and queryTimeoutMs 0 are refused, naming the minimum', () => {
    const found = problems({ monitor: { intervalMs: 0, queryTimeoutMs: '0ms' } });
    expect(found.get('monitor.intervalMs')).toMatch(/from 100ms to 1h/);
    expect(found.get('monitor.queryTimeoutMs')).toMatch(/from 100ms/);
  });

  it('channel timeouts are bounded', () => {
    const found = problems({
      alerts: {
        channels: [
          { type: 'webhook', url: 'http://127.0.0.1:1/x', timeoutMs: 0, retryDelayMs: '30d' },
          { type: 'command', command: '/bin/true', timeoutMs: 1e12 },
        ],
      },
    });
    expect(found.get('alerts.channels.0.timeoutMs')).toMatch(/out of range/);
    expect(found.get('alerts.channels.0.retryDelayMs')).toMatch(/out of range|too long/);
    expect(found.get('alerts.channels.1.timeoutMs')).toMatch(/out of range|too long/);
  });

  it('defaults and ordinary values still load', () => {
    expect(problems({})).toEqual(new Map());
    expect(
      problems({ monitor: { intervalMs: '250ms', queryTimeoutMs: '2s' }, archive: { timeoutMs: '5m' } }),
    ).toEqual(new Map());
  });

  it('run --interval 0 exits 2 before starting anything', async () => {
    const output = createMemoryOutput();
    const code = await main(['run', '--interval', '0', '--no-http'], { output, env: {} });
    expect(code).toBe(2);
    expect(output.text()).toMatch(/monitor\.intervalMs/);
  });
});
