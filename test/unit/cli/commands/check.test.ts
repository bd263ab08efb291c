import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { createMemoryOutput } from '../../../../src/cli/output.js';
import { buildStatus } from '../../../../src/monitor/status.js';
import { writeConfigFile } from '../../../helpers/cluster.js';
import { previousSnapshot, unclassified } from '../../monitor/fixtures.js';

/** A stand-in supervisor: serves one status document on /status, as `pgfollower run` does. */
async function serveStatus(lagBytes: bigint): Promise<{ listen: string; server: Server }> {
  const doc = buildStatus(
    previousSnapshot(unclassified({ lag: { replayLagBytes: lagBytes, receiveLagBytes: 0n } }), 'catching-up'),
    'supervisor',
  );
  const server = createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(doc));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { listen: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((done) => s.close(done));
});

async function check(args: string[], configured = true, lagBytes = 8_500_000n) {
  const { listen, server } = await serveStatus(lagBytes);
  servers.push(server);
  const file = await writeConfigFile(mkdtempSync(`${tmpdir()}/pgf-check-`), {
    node: { name: 'replica_a' },
    log: { level: 'silent' },
    http: { listen },
  });
  const out = createMemoryOutput();
  const code = await main([...(configured ? ['--config', file] : []), 'check', ...args], {
    output: out,
    env: {},
  });
  return { code, out };
}

describe('pgfollower check', () => {
  // Issue 14 defect 2: `--warn-lag 64M` was read as 64 bytes ("8.1 MB > 64 B").
  it('reads --warn-lag 64M as 64 MiB', async () => {
    const { code, out } = await check(['--warn-lag', '64M', '--crit-lag', '1G']);
    expect(out.stdout).toHaveLength(1);
    expect(out.stdout[0]).toMatch(/^PGFOLLOWER OK - .*\| lag_bytes=8500000B;67108864;1073741824;0 /);
    expect(code).toBe(0);
    const low = await check(['--warn-lag', '4MiB']);
    expect(low.out.stdout[0]).toMatch(/^PGFOLLOWER WARNING - .*replay lag 8.1 MB > 4 MB/);
    expect(low.code).toBe(1);
  });

  // Issue 14 defect 8: a usage error exited 2 without a status line; no config reported CRITICAL.
  it.each([
    [['--warn-lagg', '1'], /^PGFOLLOWER UNKNOWN - usage: unknown option '--warn-lagg'/],
    [['--warn-lag'], /^PGFOLLOWER UNKNOWN - usage: option '--warn-lag <size>' argument missing/],
    [['--warn-lag', '64X'], /^PGFOLLOWER UNKNOWN - --warn-lag 64X: not a size/],
    [['--crit-seconds', 'soon'], /^PGFOLLOWER UNKNOWN - --crit-seconds soon/],
    [['extra'], /^PGFOLLOWER UNKNOWN - usage: too many arguments/],
  ])('check %j is UNKNOWN (3) with one line', async (args, line) => {
    const { code, out } = await check(args);
    expect(out.stdout, out.text()).toHaveLength(1);
    expect(out.stdout[0]).toMatch(line);
    expect(out.stderr).toEqual([]);
    expect(code).toBe(3);
  });

  it('without a configuration is UNKNOWN (3), not CRITICAL', async () => {
    const { code, out } = await check([], false);
    expect(out.stdout).toEqual([
      'PGFOLLOWER UNKNOWN - no configuration: pass --config FILE (before check) or set PGFOLLOWER_CONFIG',
    ]);
    expect(code).toBe(3);
  });

  it('a missing configuration file is UNKNOWN with one line', async () => {
    const out = createMemoryOutput();
    const code = await main(['--config', '/nonexistent/pgfollower.yaml', 'check'], { output: out, env: {} });
    expect(out.stdout).toHaveLength(1);
    expect(out.stdout[0]).toMatch(/^PGFOLLOWER UNKNOWN - configuration has 1 problem.*\/nonexistent/);
    expect(code).toBe(3);
  });
});
