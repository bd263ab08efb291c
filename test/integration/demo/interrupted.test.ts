import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/wait.js';

const bin = resolve(import.meta.dirname, '../../../dist/src/cli/bin.js');

// Issue 14 defect 13: `npm run demo | tee demo.log`, Ctrl-C: tee is gone (stdout a closed pipe) and
// the signal arrives twice (the terminal's and npm's); both servers kept running and the sandbox
// stayed in /tmp.
describe('pgfollower demo interrupted with stdout a closed pipe', () => {
  it('stops both servers and removes the sandbox', async () => {
    const child = spawn(process.execPath, [bin, '--log-level', 'error', 'demo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    let sandbox: string | undefined;
    try {
      sandbox = await waitFor(
        'the demo to run its load',
        async () => (/press Ctrl-C to stop/.test(out) ? /sandbox: (\S+)/.exec(out)?.[1] : undefined),
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      // `tee` is gone: every later write to stdout fails with EPIPE.
      child.stdout.destroy();
      child.kill('SIGINT');
      child.kill('SIGINT');
      const code = await exited;
      expect(existsSync(sandbox)).toBe(false);
      expect(err).not.toMatch(/EPIPE|internal error/);
      // Ctrl-C: stopped as asked (docs/exit-codes.md), after the cleanup.
      expect(err).toMatch(/stopped: received SIGINT/);
      expect(code, err).toBe(130);
      const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(processes.split('\n').filter((l) => l.includes(sandbox as string))).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
