import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import { stringify, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { cloneFollower, createLeader, makeTempDir, waitFor, writeConfigFile } from '../../helpers/cluster.js';

const repo = resolve(import.meta.dirname, '../../../');
const bin = resolve(repo, 'dist/src/cli/bin.js');

/**
 * The built binary end to end, as systemd runs it: `pgfollower run` comes up, serves /status,
 * reloads its config on SIGHUP and stops cleanly on SIGTERM. `npm test` builds dist/ first.
 */
describe('pgfollower run (built binary)', () => {
  it('serves the API, reloads on SIGHUP, stops cleanly on SIGTERM', async () => {
    if (!existsSync(bin))
      await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo }).catch(() => undefined);
    expect(existsSync(bin), `${bin} (run npm run build)`).toBe(true);
    const leader = await createLeader();
    const follower = await cloneFollower(leader, { slot: 'replica_a' });
    const port = await getPort();
    const configFile = await writeConfigFile(await makeTempDir(), {
      node: { name: 'replica_a', port: follower.port, host: follower.socketDirectory, user: 'postgres' },
      leader: { conninfo: leader.conninfo },
      slot: { name: 'replica_a' },
      monitor: { intervalMs: 200 },
      http: { listen: `127.0.0.1:${port}` },
      log: { level: 'info', format: 'json' },
    });
    const child = spawn(process.execPath, [bin, '--config', configFile, 'run'], {
      env: { ...process.env, NOTIFY_SOCKET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    try {
      const status = await waitFor(
        'run serves /status',
        async () => {
          const r = await fetch(`http://127.0.0.1:${port}/status`);
          const body = (await r.json()) as { state: string };
          return body.state === 'streaming' ? body : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(status).toMatchObject({ node: 'replica_a', role: 'replica', source: 'supervisor' });

      const config = parse(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
      config.monitor = { intervalMs: 300 };
      writeFileSync(configFile, stringify(config));
      child.kill('SIGHUP');
      await waitFor('reload logged', async () => /configuration reloaded; interval 300ms/.test(log), {
        timeoutMs: 20_000,
      });

      // A broken file is refused and the supervisor keeps running.
      writeFileSync(configFile, 'monitor: { intervalMs: soon }\n');
      child.kill('SIGHUP');
      await waitFor(
        'refusal logged',
        async () => /reload refused, keeping the running configuration/.test(log),
        {
          timeoutMs: 20_000,
        },
      );
      expect((await fetch(`http://127.0.0.1:${port}/liveness`)).status).toBe(200);

      const stopAt = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - stopAt).toBeLessThan(20_000);
      expect(log).toMatch(/supervisor stopped \(received SIGTERM\)/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await follower.stop();
      await leader.stop();
    }
  });
});
