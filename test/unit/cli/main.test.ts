import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { ExitCode } from '../../../src/errors.js';
import { writeConfigFile } from '../../helpers/cluster.js';

describe('main', () => {
  it('an unknown command is a usage error (exit 2)', async () => {
    const out = createMemoryOutput();
    expect(await main(['no-such-command'], { output: out, env: {} })).toBe(ExitCode.USAGE);
    expect(out.text()).toMatch(/unknown command/);
  });

  it('a bad config lists every problem with its key and exits 2', async () => {
    const dir = mkdtempSync(`${tmpdir()}/pgf-cli-main-`);
    const file = await writeConfigFile(dir, {
      monitor: { intervalMs: 'often' },
      http: { listen: 42 },
    });
    const out = createMemoryOutput();
    const code = await main(['--config', file, 'status'], { output: out, env: {} });
    expect(code).toBe(ExitCode.USAGE);
    const text = out.text();
    expect(text).toContain('monitor.intervalMs');
    expect(text).toContain('http.listen');
  });

  it('help is not an error', async () => {
    const out = createMemoryOutput();
    expect(await main(['--help'], { output: out, env: {} })).toBe(ExitCode.OK);
    expect(out.text()).toContain('bootstrap');
  });
});
