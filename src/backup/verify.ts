import { createHash } from 'node:crypto';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVerified } from '../archive/follower/fetch.js';
import { parseWalFile } from '../archive/store/layout.js';
import type { ArchiveStore } from '../archive/store/store.js';
import type { Context } from '../context.js';
import { PgFollowerError, type CheckResult } from '../errors.js';
import { tail } from '../exec/run.js';
import { chooseBackup } from './list.js';
import { tablespacesOf } from './layout.js';
import { restoreBackupFiles } from './restore.js';
import { tablespaceTargets } from './tablespaces.js';

interface VerifyBackupResult {
  id: string;
  ok: boolean;
  checks: CheckResult[];
  durationMs: number;
}

/**
 * `backup verify ID`: restores the backup into a scratch directory, fetches the WAL from its start
 * to its end LSN from the archive, and runs pg_verifybackup with the stored manifest: every part
 * must match its recorded SHA-256 and decode, every file its manifest checksum, and the WAL range
 * must parse. Tablespaces are restored into directories inside the scratch directory (never at
 * their original locations), linked from pg_tblspc, so pg_verifybackup checks their files too. The
 * scratch directory is removed afterwards (it is a copy, never a data directory in use).
 */
export async function verifyBackup(
  ctx: Context,
  store: ArchiveStore,
  options: { id?: string | undefined; scratchDirectory?: string | undefined } = {},
): Promise<VerifyBackupResult> {
  const started = ctx.clock.now();
  const backup = await chooseBackup(store, options.id, ctx.signal);
  const checks: CheckResult[] = [];
  const runAs = ctx.exec.runAs;
  const scratch = await mkdtemp(
    join(options.scratchDirectory ?? tmpdir(), `pgfollower-verify-${backup.id}-`),
  );
  try {
    if (runAs) await chown(scratch, runAs.uid, runAs.gid);
    const dataDir = join(scratch, 'data');
    const walDir = join(scratch, 'wal');
    const manifestPath = join(scratch, 'backup_manifest');

    const manifest = await store.get(backup.manifestKey, ctx.signal);
    const manifestOk =
      manifest !== undefined &&
      createHash('sha256').update(manifest.body).digest('hex') === backup.manifestSha256;
    checks.push({
      name: 'manifest',
      ok: manifestOk,
      detail: manifest
        ? manifestOk
          ? `${backup.manifestKey} matches its recorded SHA-256`
          : `${backup.manifestKey} differs from the SHA-256 recorded in backup.json`
        : `${backup.manifestKey} is missing`,
    });
    if (manifest) await writeFile(manifestPath, manifest.body, { mode: 0o600 });
    if (runAs && manifest) await chown(manifestPath, runAs.uid, runAs.gid);

    try {
      const tablespaces = tablespacesOf(backup);
      const partCount = backup.parts.length + tablespaces.reduce((n, t) => n + t.parts.length, 0);
      ctx.reporter.step(`restoring ${partCount} part(s) of ${backup.id} into ${dataDir}`);
      const restored = await restoreBackupFiles(ctx, store, backup, {
        targetDirectory: dataDir,
        tablespaces: tablespaceTargets(backup, new Map(), (t) => join(scratch, 'tablespaces', String(t.oid))),
        // pg_verifybackup checks tablespace_map against the manifest: keep the backup's own.
        tablespaceMap: 'keep',
      });
      checks.push({
        name: 'parts',
        ok: true,
        detail: `${partCount} part(s) match their SHA-256 and decode; ${restored.files} files restored${tablespaces.length > 0 ? ` (${tablespaces.length} tablespace(s): ${tablespaces.map((t) => t.name).join(', ')})` : ''}`,
        numbers: { bytes: restored.rawBytes, ms: restored.durationMs },
      });
    } catch (error) {
      if (!(error instanceof PgFollowerError)) throw error;
      checks.push({ name: 'parts', ok: false, detail: error.message });
    }

    await mkdir(walDir, { mode: 0o700 });
    if (runAs) await chown(walDir, runAs.uid, runAs.gid);
    const missing: string[] = [];
    for (const name of backup.walFiles) {
      const file = parseWalFile(name);
      if (!file) continue;
      try {
        const got = await readVerified(store, file, ctx.signal);
        if (!got) {
          missing.push(name);
          continue;
        }
        await writeFile(join(walDir, name), got.data, { mode: 0o600 });
        if (runAs) await chown(join(walDir, name), runAs.uid, runAs.gid);
      } catch (error) {
        if (!(error instanceof PgFollowerError)) throw error;
        missing.push(`${name} (${error.message})`);
      }
    }
    checks.push({
      name: 'WAL',
      ok: missing.length === 0,
      detail:
        missing.length === 0
          ? `${backup.walFiles.length} WAL file(s) ${backup.walFiles[0]} .. ${backup.walFiles.at(-1)} are in the archive and verify`
          : `missing or damaged in the archive: ${missing.join(', ')}`,
    });

    if (checks.every((c) => c.ok)) {
      ctx.reporter.step('running pg_verifybackup');
      const result = await ctx.exec.tryRun(
        ctx.bin.path('pg_verifybackup'),
        ['--manifest-path', manifestPath, '--wal-directory', walDir, dataDir],
        { signal: ctx.signal, env: { LC_ALL: 'C' } },
      );
      checks.push({
        name: 'pg_verifybackup',
        ok: result.exitCode === 0,
        detail:
          result.exitCode === 0
            ? 'files match the manifest checksums and the WAL range parses'
            : `exit ${result.exitCode}: ${tail(result.stderr || result.stdout, 6)}`,
      });
    } else {
      checks.push({ name: 'pg_verifybackup', ok: false, detail: 'not run: the checks above failed' });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { id: backup.id, ok: checks.every((c) => c.ok), checks, durationMs: ctx.clock.now() - started };
}
