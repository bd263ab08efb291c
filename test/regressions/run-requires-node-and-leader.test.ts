import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';

/**
 * Issue 15, defect 9: `run` with an empty config supervised /var/run/postgresql:5432 and bound
 * 127.0.0.1:8008. It now refuses with exit 2, naming node.name and leader.conninfo, and binds nothing.
 */
describe('run without node and leader', () => {
  it('exits 2 naming the missing keys and never binds the HTTP port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-run-'));
    const port = await getPort();
    const file = join(dir, 'empty.yaml');
    writeFileSync(file, `http: { listen: "127.0.0.1:${port}" }\n`, { mode: 0o600 });
    const output = createMemoryOutput();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10_000);
    const code = await main(['--config', file, 'run'], { output, env: {}, signal: controller.signal });
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(output.text()).toContain('node.name');
    expect(output.text()).toContain('leader.conninfo');
    // The port is still free: nothing was served.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  });
});
