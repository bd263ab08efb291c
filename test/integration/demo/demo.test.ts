import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';

describe('pgfollower demo', () => {
  it('bootstraps a sandbox follower, replicates the load, shows status and removes everything', async () => {
    const output = createMemoryOutput();
    const code = await main(['--log-level', 'error', 'demo', '--duration', '6s'], { output });
    const text = output.text();
    expect(code, text).toBe(0);
    const sandbox = /sandbox: (\S+)/.exec(text)?.[1];
    expect(sandbox).toBeDefined();
    expect(text).toMatch(
      /follower: 127\.0\.0\.1:\d+, bootstrapped in [\d.]+ s, slot demo_follower, streaming/,
    );
    // The status the supervisor printed while the load ran.
    expect(text).toMatch(/demo-follower: (streaming|catching-up) \(replica, timeline 1\)/);
    const match = /wrote (\d+) rows on the leader; the follower has (\d+)/.exec(text);
    expect(Number(match?.[1])).toBeGreaterThan(0);
    // Once the load stops, the follower catches up: every committed row is there.
    expect(Number(match?.[2])).toBe(Number(match?.[1]));
    expect(text).toMatch(/\(all of them, [\d.]+ s after the load stopped; state/);
    expect(existsSync(sandbox as string)).toBe(false);
  });

  it('rejects a bad --duration with exit 2 before creating anything', async () => {
    const output = createMemoryOutput();
    expect(await main(['demo', '--duration', 'soon'], { output })).toBe(2);
    expect(output.text()).toContain(`option '--duration <duration>' argument 'soon' is invalid`);
  });
});
