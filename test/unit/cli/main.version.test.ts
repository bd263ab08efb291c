import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { readPackageInfo } from '../../../src/exec/self.js';

const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as {
  version: string;
};

describe('pgfollower --version', () => {
  it('prints the package version alone and exits 0', async () => {
    const out = createMemoryOutput();
    expect(await main(['--version'], { output: out })).toBe(0);
    expect(out.stdout).toEqual([pkg.version]);
    expect(out.stderr).toEqual([]);
  });

  it('finds the same package.json from the sources as the bundle does', () => {
    expect(readPackageInfo().root).toBe(resolve(import.meta.dirname, '../../..'));
    expect(readPackageInfo().version).toBe(pkg.version);
  });
});
