import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';

// Issue 14 defect 7: `promote --replay-timeout soon` exited 70 with a ZodError dump, and follow/rebuild
// read --timeout only after the checks and the prompt. Every flag is read before anything runs: the
// config named here does not exist, so an error about it would mean the command had started.
const missingConfig = ['--config', '/nonexistent/pgfollower.yaml'];

describe('flag values are read before anything runs (exit 2, the flag named)', () => {
  it.each([
    [['promote', '--replay-timeout', 'soon'], '--replay-timeout'],
    [['promote', '--replay-timeout', '-5s'], '--replay-timeout'],
    [['follow', '--leader', 'host=x', '--timeout', 'soon', '--yes'], '--timeout'],
    [['rebuild', '--leader', 'host=x', '--timeout', '3 fortnights', '--yes'], '--timeout'],
    [['rebuild', '--max-rate', 'fast'], '--max-rate'],
    [['bootstrap', '--max-rate', '1e9'], '--max-rate'],
    [['run', '--interval', 'often'], '--interval'],
    [['demo', '--duration', 'forever'], '--duration'],
    [['archive', 'check', '--end', 'latest'], '--end'],
    [['archive', 'check', '--timeline', 'two'], '--timeline'],
    [['--log-level', 'loud', 'status'], '--log-level'],
  ])('%j', async (args, flag) => {
    const out = createMemoryOutput();
    const code = await main([...missingConfig, ...args], { output: out, env: {} });
    expect(code, out.text()).toBe(2);
    expect(out.stderr[0]).toMatch(new RegExp(`^error: option '${flag} `));
    expect(out.text()).not.toMatch(/configuration has|internal error|ZodError/);
  });
});
