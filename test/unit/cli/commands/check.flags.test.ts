import { describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { createMemoryOutput } from '../../../../src/cli/output.js';

/** Bad thresholds are pgfollower's own failure: Nagios UNKNOWN (3), one line, before any query. */
describe('pgfollower check thresholds', () => {
  const check = async (...flags: string[]) => {
    const out = createMemoryOutput();
    const code = await main(['--log-level', 'silent', 'check', ...flags], { output: out, env: {} });
    return { code, lines: out.stdout };
  };

  it('refuses a warning threshold above the critical one (UNKNOWN, exit 3)', async () => {
    const seconds = await check('--warn-seconds', '1000', '--crit-seconds', '300');
    expect(seconds.code).toBe(3);
    expect(seconds.lines).toHaveLength(1);
    expect(seconds.lines[0]).toMatch(
      /^PGFOLLOWER UNKNOWN - .*warning threshold 1000s is above the critical 300s/,
    );
    const defaultCrit = await check('--warn-seconds', '1000');
    expect(defaultCrit.code).toBe(3);
    const size = await check('--warn-lag', '2GB');
    expect(size.code).toBe(3);
    expect(size.lines[0]).toMatch(/warnLagBytes/);
  });

  it('refuses a duration it cannot read', async () => {
    const bad = await check('--warn-seconds', 'soon');
    expect(bad.code).toBe(3);
    expect(bad.lines[0]).toMatch(/--warn-seconds soon: write seconds \(60\) or a duration/);
  });
});
