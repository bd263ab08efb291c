import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { cliPath } from '../../helpers/archive.js';

/** Helpers shared by the archive fault tests: the built CLI as a child, and archive inspection. */

interface CliRun {
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>;
}

/** Runs `node dist/src/cli/bin.js ...args` as a separate process (as PostgreSQL would). */
export function runCli(args: string[], env: Record<string, string> = {}): CliRun {
  const started = Date.now();
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
    ms: number;
  }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr, ms: Date.now() - started })),
  );
  return { pid: child.pid ?? -1, done };
}

/** A config file readable by the PostgreSQL OS user (archive_command runs as it). */
export async function archiveConfig(dir: string, archive: Record<string, unknown>): Promise<string> {
  const file = await writeConfigFile(dir, {
    archive: { prefetch: 0, ...archive },
    log: { level: 'warn', format: 'json' },
  });
  const tools = await pgTools();
  if (tools.exec.runAs) await chown(file, tools.exec.runAs.uid, tools.exec.runAs.gid);
  return file;
}

export function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Every object under an fs archive's wal/ tree (final names only). Dot files are temp files, except
 * `.<name>.meta`, the metadata (SHA-256) the fs store keeps beside each object.
 */
export async function listFsArchive(
  root: string,
): Promise<{ objects: Map<string, string>; tempFiles: string[] }> {
  const objects = new Map<string, string>();
  const tempFiles: string[] = [];
  const walRoot = join(root, 'wal');
  for (const tl of await readdir(walRoot).catch(() => [] as string[])) {
    for (const name of await readdir(join(walRoot, tl))) {
      const path = join(walRoot, tl, name);
      if (/^\.[0-9A-F]{24}.*\.meta$/.test(name) || /^\.[0-9A-F]{8}\.history.*\.meta$/.test(name)) continue;
      if (name.startsWith('.')) tempFiles.push(path);
      else objects.set(`${tl}/${name}`, sha(await readFile(path)));
    }
  }
  return { objects, tempFiles };
}

/**
 * Marks a copied segment as PostgreSQL does before archive_command runs (`archive_status/<name>.ready`
 * beside it): wal-push refuses a segment without it, as it may be the one still being written.
 */
export async function markReady(dir: string, name: string): Promise<void> {
  await mkdir(join(dir, 'archive_status'), { recursive: true });
  await writeFile(join(dir, 'archive_status', `${name}.ready`), '');
}
