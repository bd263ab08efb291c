import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Issue 15, defect 13: a world-readable config whose webhook `url` carries a token was accepted
 * although the docs call webhook URLs secrets. Every secret-bearing key is covered, and the refusal
 * names the key.
 */
function file(tree: Record<string, unknown>, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-secret-'));
  const path = join(dir, 'c.yaml');
  writeFileSync(path, stringify(tree), { mode });
  return path;
}

function problemsOf(tree: Record<string, unknown>, mode = 0o644): string[] {
  try {
    loadConfig({ file: file(tree, mode), env: {} });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => p.message);
  }
}

const cases: Array<[string, Record<string, unknown>, string]> = [
  [
    'webhook url with a token in its path',
    { alerts: { channels: [{ type: 'webhook', url: 'https://hooks.example.com/T0/B1/xoxb-abc123' }] } },
    'alerts.channels.0.url',
  ],
  [
    'webhook header',
    {
      alerts: {
        channels: [{ type: 'webhook', url: 'https://example.com/hook', headers: { 'X-Api': 'k-123' } }],
      },
    },
    'alerts.channels.0.headers.X-Api',
  ],
  [
    'pagerduty url with user info',
    {
      alerts: {
        channels: [{ type: 'pagerduty', routingKey: 'x'.repeat(32), url: 'https://u:p@pd.example.com/e' }],
      },
    },
    'alerts.channels.0.url',
  ],
  [
    'command channel argument with a token',
    {
      alerts: {
        channels: [{ type: 'command', command: '/bin/notify', args: ['https://api.example.com/?token=abc'] }],
      },
    },
    'alerts.channels.0.args.0',
  ],
  ['peer conninfo with a password', { cluster: { peers: ['host=b user=r password=pw'] } }, 'cluster.peers.0'],
  ['leader URI with a password', { leader: { conninfo: 'postgresql://r:pw@a/postgres' } }, 'leader.conninfo'],
];

describe('a world-readable config file with a secret', () => {
  for (const [what, tree, key] of cases) {
    it(`is refused for a ${what}, naming ${key}`, () => {
      const problems = problemsOf(tree);
      expect(problems.join('\n')).toMatch(/world-readable/);
      expect(problems.join('\n')).toContain(key);
      expect(problemsOf(tree, 0o600)).toEqual([]);
    });
  }

  it('is accepted without a secret', () => {
    expect(
      problemsOf({ leader: { conninfo: 'host=a user=r' }, cluster: { peers: ['http://b:8008'] } }),
    ).toEqual([]);
  });
});
