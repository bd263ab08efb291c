import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * docs/architecture.md: test/unit/ mirrors src/ path for path. `test/unit/a/b.test.ts` tests
 * `src/a/b.ts`; `test/unit/a/b.topic.test.ts` is one more file about `src/a/b.ts`; `test/unit/a/c.test.ts`
 * may also test a folder `src/a/c/` as a whole (e.g. alerts/channels/).
 */
const root = resolve(import.meta.dirname, '../..');

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => relative(join(root, 'test/unit'), join(e.parentPath, e.name)));
}

/** The source a unit test file stands for, or undefined when none matches its path. */
function sourceOf(testPath: string): string | undefined {
  const base = testPath.replace(/\.test\.ts$/, '');
  const candidates = [base, base.replace(/\.[^./]+$/, '')];
  return candidates.flatMap((c) => [`src/${c}.ts`, `src/${c}/`]).find((c) => existsSync(join(root, c)));
}

describe('test/unit mirrors src', () => {
  it('every unit test file names the source file it tests', async () => {
    const files = await testFiles(join(root, 'test/unit'));
    expect(files.length).toBeGreaterThan(50);
    const orphans = files.filter((f) => sourceOf(f) === undefined);
    expect(orphans, 'unit tests whose path names no file in src/').toEqual([]);
  });

  it('the rule itself: a topic file maps to its source, a stray name to none', () => {
    expect(sourceOf('monitor/lag.delay.test.ts')).toBe('src/monitor/lag.ts');
    expect(sourceOf('monitor/lag.test.ts')).toBe('src/monitor/lag.ts');
    expect(sourceOf('alerts/channels.test.ts')).toBe('src/alerts/channels/');
    expect(sourceOf('monitor/no-such-file.test.ts')).toBeUndefined();
  });
});
