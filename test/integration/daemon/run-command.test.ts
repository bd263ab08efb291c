import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import { stringify, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { shippedProgram } from '../../../src/exec/self.js';
import { cloneFollower, createLeader, makeTempDir, writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

const repo = resolve(import.meta.dirname, '../../../');
/** What ships: the program package.json `bin` names (the esbuild bundle `npm run build` makes). */
const bin = shippedProgram();

function hasPython(): boolean {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The built binary end to end, as systemd runs it: `pgfollower run` comes up, serves /status,
 * reloads its config on SIGHUP and stops cleanly on SIGTERM. `npm test` builds dist/ first.
 * With python3 present, a datagram socket stands in for systemd's NOTIFY_SOCKET and the test checks
 * READY=1, WATCHDOG=1 and STOPPING=1 as sent through the real systemd-notify helper.
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
    let notifications = '';
    let receiver: ChildProcess | undefined;
    let notifySocket = '';
    if (hasPython()) {
      notifySocket = join(await makeTempDir('pgf-notify-'), 'notify.sock');
      const script = resolve(import.meta.dirname, 'fixtures/notify-receiver.py');
      const r = spawn('python3', [script, notifySocket], { stdio: ['ignore', 'pipe', 'inherit'] });
      receiver = r;
      r.stdout?.on('data', (d: Buffer) => (notifications += d.toString()));
      await waitFor('notify socket bound', async () => notifications.includes('listening'), {
        timeoutMs: 10_000,
      });
    } else {
      console.warn('python3 is absent: the sd_notify part of this test is skipped');
    }
    const child = spawn(process.execPath, [bin, '--config', configFile, 'run'], {
      // 400 ms watchdog: WATCHDOG=1 every 200 ms at most.
      env: { ...process.env, NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '400000', WATCHDOG_PID: '' },
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
      if (receiver) {
        await waitFor('READY=1 and WATCHDOG=1', async () => /WATCHDOG=1/.test(notifications), {
          timeoutMs: 20_000,
        });
        expect(notifications).toMatch(/^READY=1 STATUS=\S+: /m);
      }

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
      if (receiver) expect(notifications).toMatch(/^STOPPING=1 STATUS=stopping: received SIGTERM/m);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      receiver?.kill('SIGTERM');
      await follower.stop();
      await leader.stop();
    }
  });
});
