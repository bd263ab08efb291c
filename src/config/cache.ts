import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readConfigText } from './file.js';
import { deepFreeze } from './freeze.js';
import type { LoadConfigOptions } from './load.js';
import type { Config } from './schema.js';

/**
 * A cache of validated configs for the commands PostgreSQL runs once per WAL segment (wal-push,
 * wal-fetch). Validating the config means loading YAML and zod and running the schema: about a
 * quarter of such a call's CPU (docs/benchmarks/startup.md), for the same file every time.
 *
 * An entry is the validated config as JSON, named by a SHA-256 of everything validation depends on:
 * the program version, the file's path, text and world-readable bit, the environment variables the
 * loader reads, flag overrides, required keys and the user id. Any change is a different name, so
 * an entry is never stale; a miss validates as usual (every problem reported as before) and stores
 * the result. Entries hold what the file holds (secrets included): the directory is 0700 and the
 * files 0600, and a directory or file that is not this user's own, or is writable by others, is
 * not used (someone else's entry could point the archive elsewhere).
 *
 * Where: PGFOLLOWER_CACHE_DIR, else $XDG_CACHE_HOME/pgfollower, else ~/.cache/pgfollower.
 * PGFOLLOWER_CACHE_DIR=off turns it off. A cache that cannot be written is skipped silently.
 */

/** Entries kept; older ones (by modification time) are removed when a new one is written. */
const MAX_ENTRIES = 8;
const PREFIX = 'config-';

interface CachedLoadOptions extends LoadConfigOptions {
  /** The program version: a new version may validate differently. */
  version: string;
}

export async function loadConfigCached(options: CachedLoadOptions): Promise<Readonly<Config>> {
  const env = options.env ?? process.env;
  const dir = cacheDirectory(env);
  const key = dir ? cacheKey(options, env) : undefined;
  if (dir && key) {
    const hit = readEntry(dir, key);
    if (hit) return deepFreeze(hit);
  }
  const { loadConfig } = await import('./load.js');
  const config = loadConfig(options);
  if (dir && key) writeEntry(dir, key, config);
  return config;
}

export function cacheDirectory(env: NodeJS.ProcessEnv): string | undefined {
  const set = env.PGFOLLOWER_CACHE_DIR;
  if (set === 'off') return undefined;
  if (set) return resolve(set);
  try {
    return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pgfollower');
  } catch {
    return undefined;
  }
}

/** undefined when the file cannot be read: validation then reports why. */
function cacheKey(options: CachedLoadOptions, env: NodeJS.ProcessEnv): string | undefined {
  const file = options.file ?? env.PGFOLLOWER_CONFIG;
  let text = '';
  let worldReadable = false;
  if (file) {
    const read = readConfigText(file, []);
    if (!read) return undefined;
    text = read.text;
    worldReadable = (read.mode & 0o004) !== 0;
  }
  // Every variable the loader reads is PGFOLLOWER_* or a libpq PG* one; include them all.
  const vars = Object.keys(env)
    .filter((name) => name.startsWith('PGFOLLOWER_') || /^PG[A-Z]+$/.test(name))
    .sort()
    .map((name) => [name, env[name]]);
  const material = JSON.stringify({
    version: options.version,
    file: file ? resolve(file) : null,
    text,
    worldReadable,
    vars,
    overrides: options.overrides ?? null,
    require: options.require ?? [],
    uid: typeof process.getuid === 'function' ? process.getuid() : null,
  });
  return createHash('sha256').update(material).digest('hex');
}

function ownedPrivately(stat: { uid: number; mode: number }): boolean {
  const uid = typeof process.getuid === 'function' ? process.getuid() : stat.uid;
  return stat.uid === uid && (stat.mode & 0o022) === 0;
}

function readEntry(dir: string, key: string): Config | undefined {
  let fd: number | undefined;
  try {
    const dirStat = lstatSync(dir);
    if (!dirStat.isDirectory() || !ownedPrivately(dirStat)) return undefined;
    fd = openSync(join(dir, `${PREFIX}${key}.json`), constants.O_RDONLY | constants.O_NOFOLLOW);
    const stat = fstatSync(fd);
    if (!stat.isFile() || !ownedPrivately(stat) || (stat.mode & 0o077) !== 0) return undefined;
    const entry = JSON.parse(readFileSync(fd, 'utf8')) as { key?: unknown; config?: unknown };
    if (entry.key !== key || !entry.config || typeof entry.config !== 'object') return undefined;
    return entry.config as Config;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeEntry(dir: string, key: string, config: Readonly<Config>): void {
  if (!jsonSafe(config)) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const dirStat = lstatSync(dir);
    if (!dirStat.isDirectory() || !ownedPrivately(dirStat)) return;
    const target = join(dir, `${PREFIX}${key}.json`);
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ key, config }), { mode: 0o600, flag: 'wx' });
    renameSync(temp, target);
    prune(dir);
  } catch {
    // A cache that cannot be written (read-only home, no home) only costs the next call a validation.
  }
}

function prune(dir: string): void {
  const entries = readdirSync(dir)
    .filter((name) => name.startsWith(PREFIX))
    .map((name) => {
      const path = join(dir, name);
      try {
        return { path, mtime: statSync(path).mtimeMs };
      } catch {
        return { path, mtime: 0 };
      }
    })
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of entries.slice(MAX_ENTRIES)) {
    try {
      unlinkSync(old.path);
    } catch {
      // removed by a concurrent call
    }
  }
}

/** Whether JSON gives the same tree back: plain objects, arrays, strings, booleans, finite numbers. */
export function jsonSafe(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (Array.isArray(value)) return value.every((v) => v !== undefined && jsonSafe(v));
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      return Object.values(value as Record<string, unknown>).every(jsonSafe);
    default:
      return false;
  }
}
