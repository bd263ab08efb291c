import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAlertMetrics } from '../../src/alerts/metrics.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { createSupervisorMetrics } from '../../src/http/metrics.js';
import { installed } from '../helpers/programs.js';

/** docs/examples/ is what operators copy: every file must load, parse or pass its tool's own check. */
const dir = resolve(import.meta.dirname, '../../docs/examples');
const files = readdirSync(dir);
const configs = files.filter((f) => /\.ya?ml$/.test(f) && !f.endsWith('.rules.yml'));

/** A copy with the mode the header of every example asks for (chmod 600). */
function installedCopy(name: string, mode = 0o600): string {
  const target = join(mkdtempSync(join(tmpdir(), 'pgf-example-')), name);
  copyFileSync(join(dir, name), target);
  chmodSync(target, mode);
  return target;
}

/** Metric names the supervisor exports (histograms also as _bucket, _sum, _count). */
async function exportedMetrics(): Promise<Set<string>> {
  const registry = createSupervisorMetrics().registry;
  createAlertMetrics(registry);
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

function metricNamesIn(text: string): string[] {
  return [...new Set(text.match(/\bpgfollower_[a-z0-9_]+/g) ?? [])];
}

describe('docs/examples', () => {
  it('has configs for an fs archive, S3, the leader and alert channels', () => {
    expect(configs.sort()).toEqual([
      'alerts.yaml',
      'follower-fs-archive.yaml',
      'follower-s3-archive.yaml',
      'leader-archive.yaml',
    ]);
  });

  it.each(configs)('%s loads with the real loader', (name) => {
    const follower = name !== 'leader-archive.yaml';
    const config = loadConfig({
      file: installedCopy(name),
      env: {},
      require: follower ? ['node.name', 'node.dataDirectory', 'leader.conninfo'] : ['node.dataDirectory'],
    });
    expect(config.node.name).toBeTruthy();
    expect(config.archive.type).not.toBe('none');
  });

  it('the alert example has every channel type on-call uses, and is refused world-readable', () => {
    const config = loadConfig({ file: installedCopy('alerts.yaml'), env: {} });
    expect(config.alerts.channels.map((c) => c.type).sort()).toEqual(['pagerduty', 'slack', 'webhook']);
    let error: unknown;
    try {
      loadConfig({ file: installedCopy('alerts.yaml', 0o644), env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/world-readable; run: chmod 600/);
  });

  it('the S3 example names a bucket and no credentials', () => {
    const config = loadConfig({ file: installedCopy('follower-s3-archive.yaml'), env: {} });
    expect(config.archive.s3?.bucket).toBe('acme-wal');
    expect(readFileSync(join(dir, 'follower-s3-archive.yaml'), 'utf8')).not.toMatch(/secretAccessKey|AKIA/);
  });

  it('the Prometheus rules and the Grafana dashboard use only metrics pgfollower exports', async () => {
    const exported = await exportedMetrics();
    const rules = readFileSync(join(dir, 'pgfollower.rules.yml'), 'utf8');
    const dashboard = readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8');
    const used = metricNamesIn(rules + dashboard);
    expect(used.length).toBeGreaterThan(15);
    expect(used.filter((n) => !exported.has(n))).toEqual([]);
  });

  it('the Grafana dashboard is importable JSON: unique panel ids, a Prometheus query in every panel', () => {
    const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as {
      uid: string;
      panels: Array<{ id: number; type: string; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toBe('pgfollower');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length, `panel ${panel.id}`).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) expect(t.expr).toMatch(/pgfollower_/);
    }
  });

  it.skipIf(!installed('promtool'))('promtool check rules accepts the rules file', () => {
    const out = execFileSync('promtool', ['check', 'rules', join(dir, 'pgfollower.rules.yml')], {
      encoding: 'utf8',
    });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!installed('haproxy'))(
    'haproxy -c accepts haproxy.cfg, which routes reads by /replica?lag=',
    () => {
      const text = readFileSync(join(dir, 'haproxy.cfg'), 'utf8');
      expect(text).toMatch(/uri \/replica\?lag=/);
      const out = execFileSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
      expect(out).toMatch(/Configuration file is valid/);
    },
  );
});
