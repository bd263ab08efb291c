import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PgFollowerError, RefusedError, ExitCode } from '../errors.js';
import { compactTimestamp, systemClock, type Clock } from '../util/time.js';
import { readPostmasterPid, serverStatus, type PgTools } from './cluster.js';

/**
 * The one guarded door for moving or removing a data directory. Nothing else in pgfollower renames
 * or deletes one. Rules: only the configured directory (or a directory this module moved aside),
 * only while no server runs on it, and always move aside before anything is deleted.
 */

export type DirectoryState = 'absent' | 'empty' | 'data-directory' | 'other';

export function inspectDirectory(path: string): DirectoryState {
  if (!existsSync(path)) return 'absent';
  if (!statSync(path).isDirectory()) return 'other';
  const entries = readdirSync(path).filter((e) => e !== 'lost+found');
  if (entries.length === 0) return 'empty';
  return entries.includes('PG_VERSION') ? 'data-directory' : 'other';
}

const ASIDE_RE = /\.(old|failed|incomplete)-\d{8}T\d{6}Z?(-\d+)?$/;

async function assertNotRunning(tools: PgTools, path: string): Promise<void> {
  if (inspectDirectory(path) !== 'data-directory') return;
  const status = await serverStatus(tools, path);
  if (status === 'running') {
    throw new RefusedError(`a PostgreSQL server is running on ${path}; refusing to move it`, [], {
      hint: `stop it first: pg_ctl stop -D ${path} -m fast`,
    });
  }
  const pid = readPostmasterPid(path);
  if (pid !== undefined && processAlive(pid)) {
    throw new RefusedError(`postmaster.pid in ${path} names live process ${pid}; refusing to move it`, [], {
      hint: 'stop that server first, or remove a stale postmaster.pid if you are sure no server uses the directory',
    });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Renames `path` (which must be the configured data directory) to `<path>.<kind>-<timestamp>`,
 * on the same filesystem, so nothing is copied or lost. Returns the new path.
 */
export async function moveAside(
  tools: PgTools,
  path: string,
  options: {
    configured: string;
    kind?: 'old' | 'failed' | 'incomplete';
    /** Names the moved directory; callers with a Context pass ctx.clock. */
    clock?: Clock;
  },
): Promise<string> {
  const target = resolve(path);
  if (target !== resolve(options.configured)) {
    throw new PgFollowerError(
      'UNSAFE_PATH',
      `refusing to move ${target}: it is not the configured data directory ${options.configured}`,
      ExitCode.INTERNAL,
    );
  }
  if (target === '/' || dirname(target) === target) {
    throw new PgFollowerError('UNSAFE_PATH', `refusing to move ${target}`, ExitCode.INTERNAL);
  }
  await assertNotRunning(tools, target);
  const clock = options.clock ?? systemClock;
  let aside = `${target}.${options.kind ?? 'old'}-${compactTimestamp(clock.now())}`;
  for (let n = 1; existsSync(aside); n++)
    aside = `${target}.${options.kind ?? 'old'}-${compactTimestamp(clock.now())}-${n}`;
  await rename(target, aside);
  return aside;
}

/** Moves a directory that moveAside made back to the configured path (undo of a failed replacement). */
export async function restoreAside(
  tools: PgTools,
  aside: string,
  options: { configured: string },
): Promise<void> {
  const target = resolve(options.configured);
  if (
    !ASIDE_RE.test(basename(aside)) ||
    resolve(dirname(aside)) !== dirname(target) ||
    !basename(aside).startsWith(basename(target) + '.')
  ) {
    throw new PgFollowerError(
      'UNSAFE_PATH',
      `refusing to restore ${aside}: not a moved-aside copy of ${target}`,
      ExitCode.INTERNAL,
    );
  }
  if (existsSync(target)) {
    await assertNotRunning(tools, target);
    await moveAside(tools, target, { configured: target, kind: 'failed' });
  }
  await rename(aside, target);
}

/**
 * Deletes a directory that moveAside made, once its replacement is verified. Refuses anything
 * else, so a bug cannot turn this into `rm -rf` of a live data directory.
 */
export async function removeAside(aside: string, options: { configured: string }): Promise<void> {
  const target = resolve(options.configured);
  const name = basename(aside);
  if (
    !ASIDE_RE.test(name) ||
    resolve(dirname(aside)) !== dirname(target) ||
    !name.startsWith(basename(target) + '.')
  ) {
    throw new PgFollowerError(
      'UNSAFE_PATH',
      `refusing to delete ${aside}: not a moved-aside copy of ${target}`,
      ExitCode.INTERNAL,
    );
  }
  const pid = readPostmasterPid(aside);
  if (pid !== undefined && processAlive(pid)) {
    throw new RefusedError(`refusing to delete ${aside}: process ${pid} may still use it`);
  }
  await rm(aside, { recursive: true, force: true });
}

/** Directories moved aside next to the configured one, newest first. */
export function listAside(configured: string): string[] {
  const dir = dirname(resolve(configured));
  const base = basename(resolve(configured));
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((e) => e.startsWith(base + '.') && ASIDE_RE.test(e))
    .sort()
    .reverse()
    .map((e) => join(dir, e));
}
