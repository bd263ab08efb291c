import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeConfigFile } from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

const bin = resolve(import.meta.dirname, '../../../dist/src/cli/bin.js');

/** A TCP server that accepts and never answers: every PostgreSQL connection to it waits. */
async function blackhole(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

// Issue 14 defect 6: the first SIGINT/SIGTERM during a wait exited 70 "a bug in pgfollower" with a
// stack. It must stop, clean up and exit 130/143 saying "stopped".
describe('a signal during a wait stops the command: 130/143, "stopped", no stack', () => {
  it.each([
    ['status', ['status', '--direct'], 'SIGTERM', 143],
    ['bootstrap', ['bootstrap', '--yes'], 'SIGINT', 130],
    ['promote', ['promote', '--yes'], 'SIGINT', 130],
  ] as const)('%s, %s', async (_name, args, signal, expected) => {
    const hole = await blackhole();
    closers.push(hole.close);
    const dir = mkdtempSync(join(tmpdir(), 'pgf-signals-'));
    const leader = `host=127.0.0.1 port=${hole.port} user=postgres dbname=postgres connect_timeout=60`;
    const file = await writeConfigFile(dir, {
      node: { name: 'replica-a', dataDirectory: join(dir, 'data'), host: '127.0.0.1', port: hole.port },
      leader: { conninfo: leader },
      log: { level: 'warn' },
      http: { enabled: false },
    });
    const child = spawn(process.execPath, [bin, '--config', file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((done) =>
      child.on('exit', (code) => done({ code, at: Date.now() })),
    );
    try {
      // The command is waiting once it has connected to the blackhole.
      await waitFor(`${args[0]} to connect`, async () => hole.accepted() > 0, { timeoutMs: 30_000 });
      const sentAt = Date.now();
      child.kill(signal);
      const { code, at } = await exited;
      expect(output).toMatch(new RegExp(`stopped: received ${signal}`));
      expect(output).not.toMatch(/internal error|a bug in pgfollower|\n {4}at /);
      expect(code, output).toBe(expected);
      // It stopped instead of waiting for the connection to time out (60 s).
      expect(at - sentAt).toBeLessThan(20_000);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
