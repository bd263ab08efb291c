import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { onFaultCleanup } from '../../helpers/faults/cleanup.js';
import { killAndWait } from '../../helpers/faults/kill.js';

/** `pgfollower run` as its own process, so a test can SIGKILL the supervisor like the OOM killer would. */
interface RunProcess {
  pid: number;
  url: string;
  status(): Promise<Record<string, unknown> | undefined>;
  /** Resolves when /status answers (the first tick finished). */
  ready(timeoutMs?: number): Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

export function startRunProcess(
  configFile: string,
  listen: string,
  env: Record<string, string> = {},
): RunProcess {
  const child: ChildProcess = spawn(process.execPath, [cliPath, '--config', configFile, 'run'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const pid = child.pid ?? -1;
  const url = `http://${listen}`;
  const handle: RunProcess = {
    pid,
    url,
    async status() {
      try {
        const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    },
    async ready(timeoutMs = 60_000) {
      await waitFor(`pgfollower run on ${listen} to answer /status`, () => handle.status(), { timeoutMs });
    },
    async kill9() {
      await killAndWait(pid);
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    output: () => out,
  };
  onFaultCleanup(`pgfollower run pid ${pid}`, () => handle.stop());
  return handle;
}
