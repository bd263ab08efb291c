import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../src/archive/follower/restore-command.js';
import { loadConfig } from '../../src/config/index.js';
import { cliPath, requireBuiltCli, s3Env } from '../helpers/archive.js';
import { makeTempDir, writeConfigFile } from '../helpers/cluster.js';

/**
 * Issue 15, defect 3: with the archive object a FIFO and `archive.timeoutMs: 3s`, wal-fetch ran past
 * 15 s and ignored two SIGTERMs (a read stuck in a libuv thread blocks even process.exit). Now:
 * objects must be regular files (opened non-blocking), the whole fetch has a hard deadline, SIGTERM
 * is honoured, and the generated restore_command bounds the Node fallback with coreutils timeout.
 * restore_command must always end within its deadline with a status <= 125. Bounds are loose (a
 * loaded 2-core machine starts Node slowly); a hang never ends.
 */
const name = '000000010000000000000002';

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stderr: string;
}

function runCli(
  args: string[],
  options: { termAfterMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Ended> {
  const started = Date.now();
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const hardKill = setTimeout(() => child.kill('SIGKILL'), 40_000);
  if (options.termAfterMs !== undefined) setTimeout(() => child.kill('SIGTERM'), options.termAfterMs);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(hardKill);
      resolve({ code, signal, ms: Date.now() - started, stderr });
    }),
  );
}

/** A TCP server that accepts connections and never answers: an S3 endpoint that hangs. */
async function hungEndpoint(): Promise<{ url: string; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('wal-fetch always ends within its deadline', () => {
  beforeAll(requireBuiltCli);

  it('a FIFO as the archived object: exit 1 at once, not a hang', async () => {
    const dir = await makeTempDir('pgf-fifo-');
    await mkdir(join(dir, 'archive', 'wal', '00000001'), { recursive: true });
    execFileSync('mkfifo', [join(dir, 'archive', 'wal', '00000001', name)]);
    const configFile = await writeConfigFile(dir, {
      archive: { type: 'fs', fs: { path: join(dir, 'archive') }, prefetch: 0, timeoutMs: '3s' },
    });
    const ended = await runCli(['--config', configFile, 'wal-fetch', name, join(dir, 'out')]);
    expect(ended.signal).toBeNull();
    expect(ended.code).toBe(1);
    expect(ended.ms).toBeLessThan(20_000);
    expect(ended.stderr).toMatch(/not a regular file/);
  });

  it('a hung S3 endpoint: ends at archive.timeoutMs with exit 1, and at once on SIGTERM', async () => {
    const endpoint = await hungEndpoint();
    try {
      const dir = await makeTempDir('pgf-hung-');
      const archive = (timeoutMs: string): Record<string, unknown> => ({
        type: 's3',
        s3: {
          bucket: 'wal',
          endpoint: endpoint.url,
          forcePathStyle: true,
          maxAttempts: 5,
          checksums: 'when-required',
        },
        prefetch: 0,
        timeoutMs,
      });
      const short = await writeConfigFile(dir, { archive: archive('3s') });
      // Three runs: a deadline built on Node 20's AbortSignal.any could be garbage-collected while
      // the request waited, and then never fired (1 run in 3 hung until killed).
      for (let run = 0; run < 3; run += 1) {
        const deadline = await runCli(['--config', short, 'wal-fetch', name, join(dir, 'out')], {
          env: s3Env,
        });
        expect(deadline.signal).toBeNull();
        expect(deadline.code).toBe(1);
        expect(deadline.ms).toBeLessThan(20_000);
        expect(deadline.stderr).toMatch(/did not finish within archive.timeoutMs|aborted/);
      }

      const long = await writeConfigFile(dir, { archive: archive('60s') });
      const termed = await runCli(['--config', long, 'wal-fetch', name, join(dir, 'out')], {
        env: s3Env,
        termAfterMs: 2500,
      });
      expect(termed.ms).toBeLessThan(20_000);
      // Either a status PostgreSQL takes as "not available" or death by SIGTERM (its shutdown signal).
      if (termed.signal === null) expect(termed.code).toBeLessThanOrEqual(125);
      else expect(termed.signal).toBe('SIGTERM');
    } finally {
      endpoint.close();
    }
  });

  it('the generated restore_command bounds a stuck fallback and answers 1', async () => {
    const dir = await makeTempDir('pgf-stuck-');
    // Stands in for wal-fetch blocked in the kernel: ignores SIGTERM and never returns.
    const stuck = join(dir, 'stuck.sh');
    await writeFile(stuck, "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n");
    await chmod(stuck, 0o755);
    const config = loadConfig({
      overrides: { archive: { type: 'fs', fs: { path: dir }, prefetch: 0, timeoutMs: '1s', command: stuck } },
      env: {},
    });
    const command = restoreCommandFor(config)?.replaceAll('%f', name).replaceAll('%p', join(dir, 'out'));
    expect(command).toBeDefined();
    const started = Date.now();
    const child = spawn('/bin/sh', ['-c', command as string], { stdio: 'ignore' });
    const hardKill = setTimeout(() => child.kill('SIGKILL'), 40_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    clearTimeout(hardKill);
    expect(signal).toBeNull();
    expect(code).toBe(1);
    // 1 s + 5 s grace, then KILL after 5 s more.
    expect(Date.now() - started).toBeLessThan(25_000);
  });
});
