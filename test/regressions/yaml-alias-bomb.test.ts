import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Issue 15, defect 10: a "billion laughs" config (nested YAML aliases) made every command exit 70
 * with a stack (wal-fetch: a ReferenceError, exit 1). Alias expansion is bounded and reported as a
 * config problem: exit 2 with the file named, for wal-fetch too (2 is "not available" to PostgreSQL).
 */
function bombFile(): string {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  const names = 'bcdefghij'.split('');
  let previous = 'a';
  for (const name of names) {
    lines.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    previous = name;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pgf-bomb-'));
  const file = join(dir, 'bomb.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

describe('YAML alias bomb in the config file', () => {
  it('is a config problem, found without expanding the aliases', () => {
    const started = Date.now();
    let error: unknown;
    try {
      loadConfig({ file: bombFile(), env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.key)).toContain('(yaml)');
    expect((error as ConfigError).message).toMatch(/alias/i);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('status exits 2 without a stack', async () => {
    const output = createMemoryOutput();
    const code = await main(['--config', bombFile(), 'status'], { output, env: {} });
    expect(code).toBe(2);
    expect(output.text()).toMatch(/alias/i);
    expect(output.text()).not.toMatch(/internal error|ReferenceError|at .*\.js:\d+/);
  });

  it('wal-fetch exits 2 (never above 125) and says why', async () => {
    const output = createMemoryOutput();
    const code = await main(['--config', bombFile(), 'wal-fetch', '000000010000000000000001', '/tmp/x'], {
      output,
      env: {},
    });
    expect(code).toBe(2);
    expect(output.text()).toMatch(/alias/i);
    expect(output.text()).not.toMatch(/ReferenceError/);
  });
});
