import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBaseBackup } from '../../../src/bootstrap/base-backup.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { ExternalCommandError } from '../../../src/errors.js';
import { createExec } from '../../../src/exec/run.js';
import { createSilentLogger } from '../../../src/logging/logger.js';

/** A stand-in pg_basebackup: prints what the real one prints, then does `rest` (shell). */
async function fakeBaseBackup(rest: string): Promise<Context> {
  const dir = await mkdtemp(join(tmpdir(), 'pgf-fake-bb-'));
  const program = join(dir, 'pg_basebackup');
  await writeFile(
    program,
    [
      '#!/bin/sh',
      'echo "pg_basebackup: initiating base backup, waiting for checkpoint to complete" >&2',
      'sleep 0.5',
      'echo "pg_basebackup: checkpoint completed" >&2',
      'echo "1024/65536 kB (1%), 0/1 tablespace" >&2',
      rest,
    ].join('\n'),
  );
  await chmod(program, 0o755);
  return {
    config: loadConfig({ overrides: { leader: { copyStallTimeoutMs: '5s' } }, env: {} }),
    logger: createSilentLogger(),
    exec: createExec(undefined),
    bin: { binDir: dir, major: 15, path: (p) => join(dir, p) },
    clock: systemClock,
    signal: new AbortController().signal,
    reporter: silentReporter,
  };
}

describe('runBaseBackup', () => {
  it('stops a copy that receives nothing for leader.copyStallTimeoutMs, and says so', async () => {
    const ctx = await fakeBaseBackup('exec sleep 600');
    const started = Date.now();
    const error = await runBaseBackup(ctx, {
      conninfo: 'host=127.0.0.1',
      targetDirectory: '/nonexistent',
    }).catch((e: unknown) => e);
    const ms = Date.now() - started;
    expect(error).toBeInstanceOf(ExternalCommandError);
    expect((error as Error).message).toMatch(/received nothing for 5 s \(after 1 MB\); stopped it/);
    expect(ms).toBeGreaterThanOrEqual(5000);
    expect(ms).toBeLessThan(20_000);
  });

  it('does not time a copy that keeps moving, nor what follows the last file', async () => {
    // Progress every second for 7 s (past the 5 s bound), then a final sync with no output for 6 s.
    const ctx = await fakeBaseBackup(
      [
        'for i in 2 3 4 5 6 7 8; do sleep 1; echo "$((i * 1024))/65536 kB, 0/1 tablespace" >&2; done',
        'echo "pg_basebackup: write-ahead log end point: 0/4000100" >&2',
        'sleep 6',
        'exit 0',
      ].join('\n'),
    );
    await expect(
      runBaseBackup(ctx, { conninfo: 'host=127.0.0.1', targetDirectory: '/nonexistent' }),
    ).resolves.toBeUndefined();
  }, 30_000);
});
