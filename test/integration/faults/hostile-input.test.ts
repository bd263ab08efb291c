import { copyFile, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock } from '../../../src/context.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { createLeader, makeTempDir, pgTools, writeConfigFile } from '../../helpers/cluster.js';
import { useFaultCleanup } from '../../helpers/faults/cleanup.js';
import { cliPath, switchSegments } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { markReady, sha } from './archive-tools.js';
import { faultTestTimeoutMs } from './scaffold.js';

/**
 * Hostile input: WAL names and paths handed to wal-fetch / wal-push, archive objects that are
 * truncated, corrupted or from another system, configuration files built to hurt the parser, and
 * HTTP clients that hold connections, flood, or send what a browser never would. Invariants:
 * bounded time and memory, a clear error with an exit code from the table (wal-fetch never above
 * 125), nothing written outside where it should be, the daemon keeps answering.
 */
useFaultCleanup();

async function cli(args: string[]): Promise<{ code: number; text: string; ms: number }> {
  const output = createMemoryOutput();
  const started = Date.now();
  const code = await main(args, { output, env: {} });
  return { code, text: output.text(), ms: Date.now() - started };
}

/** Every file under `dir` with its content digest: "nothing else was written". */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = sha(await readFile(path));
  }
  return out;
}

const hostileNames = [
  '',
  '../../../../etc/passwd',
  '/etc/passwd',
  '..',
  '000000010000000000000001/../../../x',
  '000000010000000000000001\n',
  '00000001000000000000000\n1',
  'x'.repeat(5000),
  `000000010000000000000001${'/'.repeat(4000)}`,
  '00000001.history\u0000',
];

describe('hostile input: WAL names and paths', { timeout: faultTestTimeoutMs }, () => {
  it('wal-fetch and wal-push refuse every hostile name quickly, write nothing outside', async () => {
    const root = await makeTempDir('pgf-hostile-');
    const archiveDir = join(root, 'archive');
    const outside = join(root, 'outside');
    await mkdir(join(archiveDir, 'wal', '00000001'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'victim'), 'do not touch');
    // An archive object that is a symlink to a file outside the archive.
    await symlink(join(outside, 'victim'), join(archiveDir, 'wal', '00000001', '000000010000000000000009'));
    const configFile = await writeConfigFile(root, {
      archive: { type: 'fs', fs: { path: archiveDir }, compression: 'none', prefetch: 0 },
      log: { level: 'silent' },
    });
    const before = await tree(root);
    for (const name of hostileNames) {
      const dest = join(root, 'pg_wal', 'RECOVERYXLOG');
      const fetched = await cli(['--config', configFile, 'wal-fetch', name, dest]);
      expect(fetched.code, JSON.stringify(name.slice(0, 40))).toBeGreaterThan(0);
      expect(fetched.code).toBeLessThanOrEqual(125);
      expect(fetched.ms).toBeLessThan(10_000);
      const pushed = await cli(['--config', configFile, 'wal-push', name]);
      expect(pushed.code, JSON.stringify(name.slice(0, 40))).toBeGreaterThan(0);
      expect(pushed.code).not.toBe(70); // a bad name is not a bug in pgfollower
      expect(pushed.ms).toBeLessThan(10_000);
    }
    // The symlinked object is read but refused (not WAL); %p a symlink to outside is replaced, not followed.
    const symlinked = await cli([
      '--config',
      configFile,
      'wal-fetch',
      '000000010000000000000009',
      join(root, 'd1'),
    ]);
    expect(symlinked.code).toBe(1);
    const destLink = join(root, 'dest-link');
    await symlink(join(outside, 'victim'), destLink);
    const viaLink = await cli(['--config', configFile, 'wal-fetch', '000000010000000000000009', destLink]);
    expect(viaLink.code).toBeLessThanOrEqual(125);
    // wal-push of a symlink named like a segment that points at a non-WAL file: refused.
    const linkedSegment = join(root, '00000001000000000000000A');
    await symlink(join(outside, 'victim'), linkedSegment);
    const pushedLink = await cli(['--config', configFile, 'wal-push', linkedSegment]);
    expect(pushedLink.code).toBeGreaterThan(0);
    expect(pushedLink.code).not.toBe(70);
    const after = await tree(root);
    expect(after).toEqual(before);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('do not touch');
  });

  it(
    'archive objects truncated or with a bad header are never restored',
    { timeout: faultTestTimeoutMs },
    async () => {
      const { root, configFile, segment, original } = await archiveWithOneSegment();
      const objectPath = join(root, 'archive', 'wal', '00000001', segment);
      const variants: Array<[string, Buffer]> = [
        ['empty', Buffer.alloc(0)],
        ['truncated to 8 kB', original.subarray(0, 8192)],
        ['missing the last byte', original.subarray(0, original.length - 1)],
        ['page magic zeroed', Buffer.concat([Buffer.alloc(2), original.subarray(2)])],
        [
          'page address of another segment',
          withUInt64(original, 8, original.readBigUInt64LE(8) + 16n * 1024n * 1024n),
        ],
        ['segment size field wrong', withUInt32(original, 32, 1024 * 1024)],
      ];
      for (const [what, bytes] of variants) {
        await writeFile(objectPath, bytes);
        const dest = join(root, `restored-${what.replace(/\W+/g, '-')}`);
        const result = await cli(['--config', configFile, 'wal-fetch', segment, dest]);
        expect(result.code, what).toBe(1);
        await expect(readFile(dest), what).rejects.toThrow();
      }
    },
  );

  // New finding (not among defects 1-14 of issue 14): wal-fetch restores a segment whose header
  // carries another cluster's system identifier, and (for an fs archive without compression,
  // where no checksum is stored) a segment corrupted after its header. Enable when wal-fetch
  // checks the local system identifier and fs objects carry a digest.
  it(
    'archive objects from another system or corrupted past the header are never restored',
    { timeout: faultTestTimeoutMs },
    async () => {
      const { root, configFile, segment, original } = await archiveWithOneSegment();
      const objectPath = join(root, 'archive', 'wal', '00000001', segment);
      const flipped = Buffer.from(original);
      flipped[original.length >> 1] = (flipped[original.length >> 1] ?? 0) ^ 0xff;
      const variants: Array<[string, Buffer]> = [
        ['another system identifier', withUInt64(original, 24, original.readBigUInt64LE(24) ^ 0x5a5an)],
        ['a byte flipped mid-segment', flipped],
      ];
      for (const [what, bytes] of variants) {
        await writeFile(objectPath, bytes);
        const dest = join(root, `restored-${what.replace(/\W+/g, '-')}`);
        const result = await cli(['--config', configFile, 'wal-fetch', segment, dest]);
        expect(result.code, what).toBe(1);
      }
    },
  );
});

async function archiveWithOneSegment(): Promise<{
  root: string;
  configFile: string;
  segment: string;
  original: Buffer;
}> {
  const root = await makeTempDir('pgf-objects-');
  const leader = await createLeader();
  let segment: string;
  try {
    // The segment just switched away from is complete and stays in pg_wal until a checkpoint.
    segment = await switchSegments(leader, 1);
    await copyFile(join(leader.dataDirectory, 'pg_wal', segment), join(root, segment));
    await markReady(root, segment);
  } finally {
    await leader.stop();
  }
  const configFile = await writeConfigFile(root, {
    archive: { type: 'fs', fs: { path: join(root, 'archive') }, compression: 'none', prefetch: 0 },
    log: { level: 'silent' },
  });
  const pushed = await cli(['--config', configFile, 'wal-push', join(root, segment)]);
  expect(pushed.code, pushed.text).toBe(0);
  return { root, configFile, segment, original: await readFile(join(root, segment)) };
}

function withUInt64(data: Buffer, offset: number, value: bigint): Buffer {
  const copy = Buffer.from(data);
  copy.writeBigUInt64LE(value & 0xffff_ffff_ffff_ffffn, offset);
  return copy;
}

function withUInt32(data: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(data);
  copy.writeUInt32LE(value, offset);
  return copy;
}

describe('hostile input: configuration files', { timeout: faultTestTimeoutMs }, () => {
  it('huge numbers, wrong types, deep nesting, binary files, directories: exit 2, quickly', async () => {
    const dir = await makeTempDir('pgf-badconf-');
    const base = `node: { name: replica_a, dataDirectory: ${dir}/data }\nleader: { conninfo: "host=127.0.0.1 port=1" }\n`;
    const cases: Array<[string, string | Buffer]> = [
      ['huge port', base.replace('dataDirectory', 'port: 99999999999999999999999, dataDirectory')],
      ['negative interval', `${base}monitor: { intervalMs: -5 }\n`],
      ['NaN size', `${base}monitor: { catchingUpBytes: .nan }\n`],
      ['infinite size', `${base}monitor: { warnLagBytes: .inf }\n`],
      ['port is a string', `${base.replace('dataDirectory', 'port: abc, dataDirectory')}`],
      ['node is a list', 'node: [1, 2, 3]\n'],
      ['top level is a scalar', '42\n'],
      ['top level is a list', '- a\n- b\n'],
      ['unknown key', `${base}nodee: { name: x }\n`],
      ['deep nesting', `${'['.repeat(5000)}${']'.repeat(5000)}\n`],
      ['binary garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
      ['tabs and a BOM', `\ufeffnode:\n\tname: a\n`],
      ['duplicate keys', `${base}node: { name: b }\n`],
      [
        '10 MB of comments, then a bad value',
        `${base}${`${'# '.padEnd(1000, 'x')}\n`.repeat(10_000)}monitor: { intervalMs: soon }\n`,
      ],
    ];
    const rssBefore = process.memoryUsage().rss;
    for (const [what, content] of cases) {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, content, { mode: 0o600 });
      const result = await cli(['--config', file, 'status', '--json']);
      expect(result.code, `${what}: ${result.text.slice(0, 300)}`).toBe(2);
      expect(result.text, what).not.toMatch(/at .*\.js:\d+/); // no stack trace: not a bug
      expect(result.ms, what).toBeLessThan(10_000);
    }
    for (const [what, path] of [
      ['a directory', dir],
      ['a missing file', join(dir, 'missing.yaml')],
    ] as const) {
      const result = await cli(['--config', path, 'status', '--json']);
      expect(result.code, `${what}: ${result.text.slice(0, 300)}`).toBe(2);
      expect(result.ms, what).toBeLessThan(10_000);
    }
    // An empty file is a config with every default (node.name from the host name): it works.
    await writeFile(join(dir, 'empty.yaml'), '', { mode: 0o600 });
    const empty = await cli(['--config', join(dir, 'empty.yaml'), 'status', '--json']);
    expect([0, 1, 2], empty.text.slice(0, 300)).toContain(empty.code);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(300 * 1024 * 1024);
  });

  // New finding (not among defects 1-14 of issue 14): durations beyond Node's timer limit
  // (2^31-1 ms, about 24.8 days) are accepted, e.g. `monitor.intervalMs: 3000000000` or 1e308;
  // Node fires such a timer after 1 ms (TimeoutOverflowWarning), so the daemon would tick in a
  // busy loop. Enable when duration keys have an upper bound.
  it('durations past the timer limit are config errors', async () => {
    const dir = await makeTempDir('pgf-bigdur-');
    const base = `node: { name: replica_a, dataDirectory: ${dir}/data }\n`;
    for (const line of [
      'monitor: { intervalMs: 3000000000 }',
      'monitor: { intervalMs: 1e308 }',
      'monitor: { queryTimeoutMs: 99999999999999 }',
    ]) {
      const file = join(dir, 'c.yaml');
      await writeFile(file, `${base}${line}\n`, { mode: 0o600 });
      const result = await cli(['--config', file, 'status', '--json']);
      expect(result.code, line).toBe(2);
    }
  });

  // New finding (not among defects 1-14 of issue 14): a YAML alias bomb is stopped by the yaml
  // library's alias limit (bounded time and memory), but the ReferenceError it throws escapes
  // as "internal error (a bug in pgfollower)", exit 70, with a stack. Enable when the loader
  // turns it into a ConfigError (exit 2).
  it('a YAML alias bomb: a config error (exit 2), not a bug report', async () => {
    const dir = await makeTempDir('pgf-bomb-');
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]',
      'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]',
      'node: *h',
    ].join('\n');
    const file = join(dir, 'bomb.yaml');
    await writeFile(file, bomb, { mode: 0o600 });
    const result = await cli(['--config', file, 'status', '--json']);
    expect(result.code, result.text.slice(0, 300)).toBe(2);
    expect(result.ms).toBeLessThan(10_000);
  });

  // The config file was read with readFileSync whatever it was: `--config /dev/zero` grew memory
  // until the process died, and a FIFO blocked the main thread in open() so that even SIGTERM was
  // not handled. The loader opens non-blocking and refuses anything but a regular file of bounded
  // size. The child runs with a hard deadline (a hang fails, not blocks).
  it('a character device or a FIFO as the config file: exit 2 at once', async () => {
    const dir = await makeTempDir('pgf-devconf-');
    const fifo = join(dir, 'config.fifo');
    await execa('mkfifo', [fifo]);
    const huge = join(dir, 'huge.yaml');
    await writeFile(huge, `# ${'x'.repeat(2 * 1024 * 1024)}\n`, { mode: 0o600 });
    for (const [path, message] of [
      ['/dev/zero', /not a regular file/],
      [fifo, /not a regular file/],
      [huge, /at most \d+ bytes/],
    ] as const) {
      const result = await execa(process.execPath, [cliPath, '--config', path, 'status'], {
        reject: false,
        timeout: 20_000,
        killSignal: 'SIGKILL',
      });
      expect(result.exitCode, `${path}: ${result.stderr.slice(0, 300)}`).toBe(2);
      expect(result.stderr + result.stdout).toMatch(message);
    }
  });
});

describe('hostile input: HTTP API', { timeout: faultTestTimeoutMs }, () => {
  it(
    'slow headers, 200 clients, 100 KB URLs, odd methods: bounded, and the daemon keeps answering',
    { timeout: faultTestTimeoutMs },
    async () => {
      const tools = await pgTools();
      const port = await getPort();
      const dir = await makeTempDir('pgf-http-h-');
      // No servers at all: the supervisor reports `stopped` and serves its API regardless.
      const config = loadConfig({
        env: {},
        overrides: {
          node: {
            name: 'replica_a',
            dataDirectory: join(dir, 'data'),
            port: await getPort(),
            host: dir,
            user: 'postgres',
          },
          leader: { conninfo: `host=127.0.0.1 port=${await getPort()} user=postgres connect_timeout=1` },
          monitor: { intervalMs: 500, queryTimeoutMs: 1000 },
          http: { listen: `127.0.0.1:${port}` },
          log: { level: 'silent' },
        },
      });
      const supervisor = await startSupervisor(
        {
          config,
          logger: createSilentLogger(),
          exec: tools.exec,
          bin: tools.bin,
          clock: systemClock,
          signal: new AbortController().signal,
          reporter: silentReporter,
        },
        { http: true, maxBackoffMs: 1000 },
      );
      const get = (path: string, method = 'GET', timeoutMs = 5000): Promise<{ status: number; ms: number }> =>
        new Promise((resolve, reject) => {
          const started = Date.now();
          const req = request({ host: '127.0.0.1', port, path, method, timeout: timeoutMs }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }));
          });
          req.on('timeout', () => req.destroy(new Error(`${method} ${path.slice(0, 40)} timed out`)));
          req.on('error', reject);
          req.end();
        });
      const held: Socket[] = [];
      try {
        let lastStatus: number | undefined;
        await waitFor(
          'the daemon to answer GET /status with 200',
          async () => {
            lastStatus = (await get('/status')).status;
            return lastStatus === 200;
          },
          { timeoutMs: 30_000, detail: () => `last status: ${lastStatus}` },
        );
        const rssBefore = process.memoryUsage().rss;

        // 50 clients that send half a request line and then a byte now and then (slowloris).
        for (let i = 0; i < 50; i++) {
          const s = netConnect({ host: '127.0.0.1', port });
          s.on('error', () => undefined);
          s.write('GET /status HTTP/1.1\r\nHost: x\r\n');
          held.push(s);
        }
        const drip = setInterval(() => {
          for (const s of held) if (!s.destroyed) s.write('X');
        }, 500);
        try {
          // The daemon answers while they hang on.
          expect((await get('/liveness')).status).toBe(200);
          // 200 concurrent clients.
          const many = await Promise.all(Array.from({ length: 200 }, () => get('/status', 'GET', 20_000)));
          expect(many.every((r) => r.status === 200)).toBe(true);
          // Held connections are closed by the server: headersTimeout (5 s) is enforced by Node's
          // connection check, which runs every 30 s (http.Server connectionsCheckingInterval).
          const open = (): Socket[] => held.filter((s) => !s.destroyed && !s.readableEnded);
          await waitFor('the server to close the 50 held connections', () => open().length === 0, {
            timeoutMs: 45_000,
            detail: () => `${open().length} still open`,
          });
        } finally {
          clearInterval(drip);
        }

        // A 100 KB URL: refused quickly (431 header too large from Node, or 414), not a 500.
        const longUrl = await get(`/replica?lag=${'9'.repeat(100 * 1024)}`).catch((e: Error) => ({
          status: -1,
          ms: 0,
          e,
        }));
        expect([400, 414, 431, -1]).toContain(longUrl.status);
        // A long but legal URL: a 4xx, not a 500.
        expect((await get(`/replica?lag=${'9'.repeat(4000)}`)).status).toBeLessThan(500);
        // Odd methods: read-only API says no. OPTIONS is answered like GET (HAProxy's
        // `option httpchk OPTIONS /replica` template), so it is not odd here.
        expect([200, 503]).toContain((await get('/status', 'OPTIONS')).status);
        for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'PROPFIND']) {
          const r = await get('/status', method);
          expect(r.status, method).toBe(405);
        }
        // Odd paths and queries.
        for (const path of [
          '/%00',
          '/..%2f..%2fetc%2fpasswd',
          '/status?%zz',
          '/replica?lag=-1&lag=2',
          '//status',
          '/metrics?x=' + '%'.repeat(100),
        ]) {
          const r = await get(path);
          expect(r.status, path).not.toBe(500);
        }
        // Still answering, memory bounded.
        expect((await get('/status')).status).toBe(200);
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
      } finally {
        for (const s of held) s.destroy();
        await supervisor.stop('test over');
      }
    },
  );
});
