import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selfCommand, shippedProgram } from '../../../src/exec/self.js';

const repo = resolve(import.meta.dirname, '../../..');
const pkg = JSON.parse(readFileSync(resolve(repo, 'package.json'), 'utf8')) as {
  version: string;
  bin: { pgfollower: string };
};

/**
 * What ships is the esbuild bundle package.json `bin` names; the tests that spawn the CLI run it
 * through shippedProgram(), and archive_command/restore_command name it through selfCommand().
 * `npm test` builds it first.
 */
describe('the shipped program', () => {
  it('is the bundle package.json bin names, and archive/restore commands run it', () => {
    expect(shippedProgram()).toBe(resolve(repo, pkg.bin.pgfollower));
    expect(existsSync(shippedProgram())).toBe(true);
    expect(selfCommand()).toEqual([process.execPath, shippedProgram()]);
  });

  it('runs --version from its own directory', () => {
    const out = execFileSync(process.execPath, [shippedProgram(), '--version'], {
      cwd: '/',
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(pkg.version);
  });

  it('lists every command in --help (each command module is a chunk beside the program)', () => {
    const out = execFileSync(process.execPath, [shippedProgram(), '--help'], { encoding: 'utf8' });
    for (const command of ['bootstrap', 'run', 'wal-push', 'wal-fetch', 'archive', 'demo']) {
      expect(out).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });
});
