import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/alerts/types.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import {
  cloneFollower,
  createLeader,
  makeTempDir,
  writeConfigFile,
  followerNodeSection,
} from '../../helpers/cluster.js';
import { startReceiver } from '../../helpers/receiver.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('pgfollower run with alerts configured', () => {
  it('pages through the configured channel without any wiring in the test', async () => {
    const leader = await createLeader();
    const follower = await cloneFollower(leader);
    const hook = await startReceiver();
    closers.push(hook.close);
    const dir = await makeTempDir('pgf-alert-run-');
    const file = await writeConfigFile(dir, {
      node: followerNodeSection(follower),
      leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 },
      slot: { enabled: false },
      monitor: { intervalMs: 250 },
      log: { level: 'silent' },
      alerts: {
        stateFile: join(dir, 'alerts.json'),
        rules: { disconnected: { for: '1s' } },
        channels: [{ type: 'webhook', url: hook.url, minSeverity: 'critical' }],
      },
    });
    const controller = new AbortController();
    const output = createMemoryOutput();
    const running = main(['--config', file, 'run', '--no-http'], {
      output,
      signal: controller.signal,
      env: {},
    });
    closers.push(async () => {
      controller.abort(new Error('test over'));
      await running;
    });

    await leader.stop();
    const page = await hook.waitFor((r) => (r.body as Notification).alert === 'disconnected', 60_000);
    expect(page.body).toMatchObject({ status: 'firing', severity: 'critical', node: 'replica_a' });
    controller.abort(new Error('test over'));
    expect(await running, output.text()).toBe(0);
    await follower.stop();
  });
});
