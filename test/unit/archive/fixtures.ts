import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

export const SEG = 16 * 1024 * 1024;

/** A minimal, valid-looking WAL segment: long page header with magic, address and sizes. */
export function fakeSegment(name: string, magic = 0xd110): Buffer {
  const data = Buffer.alloc(SEG);
  const segNo = BigInt(`0x${name.slice(8, 16)}`) * 256n + BigInt(`0x${name.slice(16, 24)}`);
  data.writeUInt16LE(magic, 0);
  data.writeUInt16LE(0x0002 | 0x0004, 2);
  data.writeUInt32LE(Number.parseInt(name.slice(0, 8), 16), 4);
  data.writeBigUInt64LE(segNo * BigInt(SEG), 8);
  data.writeBigUInt64LE(7_000_000_000_000_000_000n, 24);
  data.writeUInt32LE(SEG, 32);
  data.writeUInt32LE(8192, 36);
  data.fill(0x41, 100, 5000);
  return data;
}

const dirs: string[] = [];
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgf-unit-archive-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
