import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheDirectory, jsonSafe, loadConfigCached } from '../../../src/config/cache.js';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';

function setup(text = 'node: { name: replica-a }\narchive: { type: fs, fs: { path: /srv/wal } }\n') {
  const root = mkdtempSync(join(tmpdir(), 'pgf-cache-'));
  const file = join(root, 'c.yaml');
  writeFileSync(file, text, { mode: 0o600 });
  const dir = join(root, 'cache');
  const env = { PGFOLLOWER_CACHE_DIR: dir };
  const load = (extraEnv: Record<string, string> = {}) =>
    loadConfigCached({ file, env: { ...env, ...extraEnv }, version: '1.0.0' });
  const entries = () => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')) : []);
  /** Rewrites the one entry's archive path: a later load that returns it came from the cache. */
  const tamper = (path: string) => {
    const name = entries()[0] as string;
    const entry = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    entry.config.archive.fs.path = path;
    writeFileSync(join(dir, name), JSON.stringify(entry), { mode: 0o600 });
    return join(dir, name);
  };
  return { root, file, dir, load, entries, tamper };
}

describe('config cache (per-segment commands)', () => {
  it('validates once, stores the result privately, and serves the same config after', async () => {
    const t = setup();
    const first = await t.load();
    expect(first).toEqual(loadConfig({ file: t.file, env: {} }));
    expect(t.entries()).toHaveLength(1);
    expect(statSync(t.dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(t.dir, t.entries()[0] as string)).mode & 0o777).toBe(0o600);
    const second = await t.load();
    expect(second).toEqual(first);
    expect(Object.isFrozen(second.archive)).toBe(true);
    // The second load came from the entry.
    t.tamper('/from/cache');
    expect((await t.load()).archive.fs?.path).toBe('/from/cache');
  });

  it('a changed file, environment or version is a different entry', async () => {
    const t = setup();
    await t.load();
    t.tamper('/from/cache');
    writeFileSync(t.file, 'node: { name: replica-a }\narchive: { type: fs, fs: { path: /srv/wal2 } }\n');
    expect((await t.load()).archive.fs?.path).toBe('/srv/wal2');
    expect((await t.load({ PGFOLLOWER_LOG_LEVEL: 'debug' })).log.level).toBe('debug');
    expect(
      (await loadConfigCached({ file: t.file, env: { PGFOLLOWER_CACHE_DIR: t.dir }, version: '2.0.0' }))
        .archive.fs?.path,
    ).toBe('/srv/wal2');
    expect(t.entries()).toHaveLength(4);
  });

  it('a bad config is reported as without the cache, and nothing is stored', async () => {
    const t = setup('node: { port: "x" }\n');
    await expect(t.load()).rejects.toBeInstanceOf(ConfigError);
    await expect(t.load()).rejects.toThrow(/node\.port/);
    expect(t.entries()).toHaveLength(0);
  });

  it('ignores an entry others could have written', async () => {
    const t = setup();
    await t.load();
    const entry = t.tamper('/planted');
    chmodSync(entry, 0o644);
    expect((await t.load()).archive.fs?.path).toBe('/srv/wal');
    t.tamper('/planted');
    chmodSync(t.dir, 0o777);
    expect((await t.load()).archive.fs?.path).toBe('/srv/wal');
  });

  it('PGFOLLOWER_CACHE_DIR=off turns it off', async () => {
    const t = setup();
    const config = await loadConfigCached({
      file: t.file,
      env: { PGFOLLOWER_CACHE_DIR: 'off' },
      version: '1',
    });
    expect(config.node.name).toBe('replica-a');
    expect(existsSync(t.dir)).toBe(false);
    expect(cacheDirectory({ XDG_CACHE_HOME: '/x' })).toBe('/x/pgfollower');
  });

  it('keeps at most 8 entries', async () => {
    const t = setup();
    for (let i = 0; i < 11; i++) await t.load({ PGFOLLOWER_NODE_NAME: `n${i}` });
    expect(t.entries()).toHaveLength(8);
  });

  it('stores only trees JSON gives back unchanged', () => {
    expect(jsonSafe({ a: [1, 'x', true, null], b: { c: undefined } })).toBe(true);
    expect(jsonSafe({ a: Infinity })).toBe(false);
    expect(jsonSafe({ a: 1n })).toBe(false);
    expect(jsonSafe({ a: new Date() })).toBe(false);
  });
});
