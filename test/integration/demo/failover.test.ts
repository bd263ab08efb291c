import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/wait.js';

const bin = resolve(import.meta.dirname, '../../../dist/src/cli/bin.js');

/** The built program, as an operator runs it (needs `npm run build`). */
describe('pgfollower demo --scenario failover', () => {
  // RPO 0 holds only when commits wait for a follower: the demo's leader runs synchronous_commit = on
  // (the sandbox's default is off; with it, the commits of the leader's last ~200 ms were counted
  // lost in one run of three).
  it('plays the incident to the end: RTO measured, RPO 0, sandbox removed', async () => {
    const run = await execa('node', [bin, '--log-level', 'error', 'demo', '--scenario', 'failover'], {
      reject: false,
      all: true,
      timeout: 900_000,
    });
    const text = String(run.all);
    expect(run.exitCode, text).toBe(0);
    // Each step shows the command an operator would type.
    expect(text).toMatch(/^\$ pgfollower --config \$SANDBOX\/replica_b\.yaml bootstrap --yes$/m);
    expect(text).toMatch(/^\$ pgfollower --config \$SANDBOX\/\S+\.yaml promote --yes$/m);
    expect(text).toMatch(/^\$ pgfollower --config \$SANDBOX\/\S+\.yaml follow --leader '[^']+' --yes$/m);
    expect(text).toMatch(
      /^\$ pgfollower --config \$SANDBOX\/old_leader\.yaml rebuild --leader '[^']+' --yes$/m,
    );
    expect(text).toMatch(/replica_b caught up in [\d.]+ s \((\d+) segments fetched from the archive/);
    const rto =
      /^RTO ([\d.]+) s from the leader's death to the first write on (replica_a|replica_b); ([\d.]+) s until every node follows it$/m.exec(
        text,
      );
    expect(rto, text).not.toBeNull();
    expect(Number(rto?.[3])).toBeGreaterThanOrEqual(Number(rto?.[1]));
    const rpo =
      /^RPO (\d+) committed rows lost \((\d+) acknowledged before the death; (\d+) on the new leader\)$/m.exec(
        text,
      );
    expect(rpo, text).not.toBeNull();
    expect(Number(rpo?.[2])).toBeGreaterThan(0);
    expect(Number(rpo?.[1])).toBe(0);
    const sandbox = /^sandbox: (\S+)/m.exec(text)?.[1];
    expect(sandbox).toBeDefined();
    expect(existsSync(sandbox as string)).toBe(false);
  }, 900_000);

  it('removes its sandbox when its output is a closed pipe', async () => {
    const child = execa('node', [bin, '--log-level', 'error', 'demo', '--scenario', 'failover'], {
      reject: false,
      stdout: 'pipe',
      stderr: 'ignore',
      timeout: 300_000,
    });
    let seen = '';
    const sandbox = await new Promise<string>((done, fail) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /^sandbox: (\S+)/m.exec(seen);
        if (match?.[1]) done(match[1]);
      });
      child.stdout?.on('error', () => undefined);
      void child.then(() => fail(new Error(`exited before naming its sandbox: ${seen}`)));
    });
    // The reader goes away (like `| head -n 8`): the next write gets EPIPE.
    child.stdout?.destroy();
    const result = await child;
    expect(result.timedOut).toBe(false);
    await waitFor('sandbox removed', async () => !existsSync(sandbox), { timeoutMs: 30_000 });
  }, 300_000);
});
