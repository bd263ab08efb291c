import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsStore } from '../../../src/archive/store/fs-store.js';
import { completeTars, copyByStaging, type SeenTar } from '../../../src/backup/take-staged.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { ExitCode, RefusedError } from '../../../src/errors.js';
import { createExec } from '../../../src/exec/run.js';
import { createSilentLogger } from '../../../src/logging/logger.js';

const seen = (entries: Record<string, [number, bigint]>): Map<string, SeenTar> =>
  new Map(Object.entries(entries).map(([name, [firstPoll, mtimeNs]]) => [name, { firstPoll, mtimeNs }]));

describe('completeTars: which tars pg_basebackup has finished while it runs', () => {
  it('none while one tar is being written', () => {
    expect(completeTars(seen({ '16385.tar': [0, 100n] }))).toEqual([]);
  });

  it('a tar is complete once a later one appears (later poll) or is written later (mtime)', () => {
    expect(completeTars(seen({ '16385.tar': [0, 100n], 'base.tar': [1, 100n] }))).toEqual(['16385.tar']);
    // Both seen by the same poll: the one written last is the open one.
    expect(completeTars(seen({ '16385.tar': [2, 100n], 'base.tar': [2, 250n] }))).toEqual(['16385.tar']);
    expect(
      completeTars(seen({ '16385.tar': [2, 100n], '16386.tar': [2, 200n], 'base.tar': [2, 300n] })),
    ).toEqual(['16385.tar', '16386.tar']);
  });

  it('equal times in the same poll prove nothing: wait for a later look or the exit', () => {
    expect(completeTars(seen({ '16385.tar': [2, 100n], 'base.tar': [2, 100n] }))).toEqual([]);
  });
});

describe('copyByStaging: free disk first', () => {
  it('refuses with both figures when the staging filesystem cannot hold the database; runs nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgf-staging-unit-'));
    try {
      const ctx: Context = {
        config: loadConfig({
          overrides: {
            archive: { type: 'fs', fs: { path: join(dir, 'archive') } },
            backup: { stagingDirectory: dir },
          },
          env: {},
        }),
        logger: createSilentLogger(),
        exec: createExec(undefined),
        bin: { binDir: '', major: 15, path: () => '/nonexistent/pg_basebackup' },
        clock: systemClock,
        signal: new AbortController().signal,
        reporter: silentReporter,
      };
      const store = createFsStore({ path: join(dir, 'archive'), fsync: false });
      const error = await copyByStaging(ctx, store, {
        id: '20261202T000000Z',
        args: [],
        expectedBytes: 2 ** 60,
        tablespaces: [{ oid: 16385, name: 'ts1', location: '/srv/ts1' }],
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RefusedError);
      const refused = error as RefusedError;
      expect(refused.exitCode).toBe(ExitCode.REFUSED);
      expect(refused.message).toMatch(
        new RegExp(`not enough free disk to stage the backup in ${dir}: need .+ free; nothing was written`),
      );
      expect(refused.checks[0]?.numbers?.needed_bytes).toBe(Math.ceil(2 ** 60 * 1.1));
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
