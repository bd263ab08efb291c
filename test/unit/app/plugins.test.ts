import { describe, expect, it } from 'vitest';
import { alertsPlugin } from '../../../src/alerts/plugin.js';
import { collectPlugins } from '../../../src/app/plugins.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock } from '../../../src/context.js';
import { createExec } from '../../../src/exec/run.js';
import { createSilentLogger } from '../../../src/logging/logger.js';

describe('supervisor plug-ins', () => {
  it('adds the alerts service unless alerts.enabled is false', async () => {
    const ctx = (alerts: Record<string, unknown>) => ({
      config: loadConfig({ env: {}, overrides: { alerts } }),
      logger: createSilentLogger(),
      exec: createExec(),
      bin: { binDir: '/nonexistent', major: 16, path: (n: string) => n },
      clock: systemClock,
      signal: new AbortController().signal,
      reporter: silentReporter,
    });
    const on = await collectPlugins(ctx({}), [alertsPlugin]);
    expect(on.services.map((s) => s.name)).toEqual(['alerts']);
    const off = await collectPlugins(ctx({ enabled: false }), [alertsPlugin]);
    expect(off.services).toEqual([]);
  });
  it('composes slot repair, the archive follower side and alerts, each only when configured', async () => {
    const overrides = {
      slot: { enabled: true, name: 'replica_a' },
      archive: { type: 'fs', fs: { path: '/nonexistent-archive' }, prefetch: 0 },
    };
    const ctx = {
      config: loadConfig({ env: {}, overrides }),
      logger: createSilentLogger(),
      exec: createExec(),
      bin: { binDir: '/nonexistent', major: 16, path: (n: string) => n },
      clock: systemClock,
      signal: new AbortController().signal,
      reporter: silentReporter,
    };
    const all = await collectPlugins(ctx);
    expect(all.services.map((s) => s.name)).toEqual([
      'slot-repair',
      'archive-restore-command',
      'archive-orphan-sweep',
      'alerts',
    ]);
    expect(all.archiveProbe).toBeTypeOf('function');
    const bare = await collectPlugins({
      ...ctx,
      config: loadConfig({ env: {}, overrides: { alerts: { enabled: false } } }),
    });
    expect(bare.services).toEqual([]);
    expect(bare.archiveProbe).toBeUndefined();
  });
});
