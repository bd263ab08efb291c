import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ARCHIVER_PID_FILE,
  archiveCommandFor,
  FAILED_SUFFIX,
  PUSHED_SUFFIX,
} from '../../../../src/archive/leader/push-ahead.js';
import { loadConfig } from '../../../../src/config/index.js';

/**
 * The leader's archive_command is a POSIX sh line: run it with the real /bin/sh as PostgreSQL
 * would (after replacing %f and %p), with a stand-in for `wal-push` that records that it ran.
 */
const segment = '000000010000000000000007';
let dir: string;
let spool: string;
let archiver: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgf-archive-command-'));
  spool = join(dir, 'spool');
  await mkdir(spool);
  // Stands in for `node pgfollower wal-push %p`: records its arguments, exits with $FALLBACK_EXIT.
  await writeFile(
    join(dir, 'wal-push.sh'),
    `#!/bin/sh\necho "$@" >> '${dir}/fallback.log'\nexit "\${FALLBACK_EXIT:-0}"\n`,
  );
  await chmod(join(dir, 'wal-push.sh'), 0o755);
});

afterEach(async () => {
  archiver?.kill('SIGKILL');
  archiver = undefined;
  await rm(dir, { recursive: true, force: true });
});

function command(timeoutMs = 60_000): string {
  const config = loadConfig({
    env: {},
    overrides: {
      archive: {
        type: 'fs',
        fs: { path: join(dir, 'archive') },
        pushSpoolDirectory: spool,
        command: `'${join(dir, 'wal-push.sh')}'`,
        timeoutMs,
      },
    },
  });
  return archiveCommandFor(config, { configFile: '/etc/pgf.yaml' });
}

/** What PostgreSQL does with archive_command: substitute %p, %f and %%, run with sh -c. */
function runArchiveCommand(
  line: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; ms: number }> {
  const text = line.replace(/%p/g, `pg_wal/${segment}`).replace(/%f/g, segment).replace(/%%/g, '%');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', text], { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, ms: performance.now() - started }));
  });
}

/** A live process standing in for the archiver (same OS user, so `kill -0` sees it). */
async function startArchiver(): Promise<void> {
  archiver = spawn('sleep', ['60'], { stdio: 'ignore' });
  await writeFile(join(spool, ARCHIVER_PID_FILE), `${archiver.pid}\n`);
}

function fallbackRuns(): string[] {
  const log = join(dir, 'fallback.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

describe('archive_command with push-ahead', () => {
  it('is one line of POSIX sh that the shell parses', () => {
    const line = command();
    expect(line).not.toContain('\n');
    expect(spawnSync('/bin/sh', ['-n', '-c', line.replace(/%[fp]/g, segment)]).status).toBe(0);
    expect(line).toContain(`wal-push %p`);
  });

  it('consumes the marker of a segment the running archiver stored, without running wal-push', async () => {
    await startArchiver();
    await writeFile(join(spool, `${segment}${PUSHED_SUFFIX}`), '');
    const result = await runArchiveCommand(command());
    expect(result.code).toBe(0);
    expect(existsSync(join(spool, `${segment}${PUSHED_SUFFIX}`))).toBe(false);
    expect(fallbackRuns()).toEqual([]);
  });

  it('waits for the running archiver to finish the segment', async () => {
    await startArchiver();
    const marker = join(spool, `${segment}${PUSHED_SUFFIX}`);
    const done = runArchiveCommand(command());
    setTimeout(() => void writeFile(marker, ''), 400);
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.ms).toBeGreaterThanOrEqual(350);
    expect(fallbackRuns()).toEqual([]);
  });

  it('runs wal-push itself when no archiver runs, even if a marker was left behind', async () => {
    await writeFile(join(spool, `${segment}${PUSHED_SUFFIX}`), '');
    const result = await runArchiveCommand(command());
    expect(result.code).toBe(0);
    expect(fallbackRuns()).toEqual([`--config /etc/pgf.yaml wal-push pg_wal/${segment}`]);
  });

  it('does not trust a pid file that names no archiver (0, garbage, a dead process)', async () => {
    for (const pid of ['0', '-1', 'x', '999999999']) {
      await writeFile(join(spool, ARCHIVER_PID_FILE), `${pid}\n`);
      await writeFile(join(spool, `${segment}${PUSHED_SUFFIX}`), '');
      const result = await runArchiveCommand(command());
      expect(result.code).toBe(0);
      expect(result.ms).toBeLessThan(5_000);
    }
    expect(fallbackRuns()).toHaveLength(4);
  });

  it('runs wal-push at once when the archiver failed the segment, and passes on its failure', async () => {
    await startArchiver();
    await writeFile(join(spool, `${segment}${FAILED_SUFFIX}`), '');
    const result = await runArchiveCommand(command(), { FALLBACK_EXIT: '3' });
    expect(result.code).toBe(3);
    expect(result.ms).toBeLessThan(5_000);
    expect(fallbackRuns()).toHaveLength(1);
  });

  it('stops waiting after archive.timeoutMs (at most 10 s) and runs wal-push', async () => {
    await startArchiver();
    const result = await runArchiveCommand(command(1000));
    expect(result.code).toBe(0);
    expect(result.ms).toBeGreaterThanOrEqual(950);
    expect(fallbackRuns()).toHaveLength(1);
  });
});
