import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { waitFor } from '../wait.js';

/** kill -9 helpers: no shutdown handler runs, exactly as after an OOM kill or a power cut. */

/** The postmaster's pid from postmaster.pid, or undefined when the server is not running. */
async function postmasterPid(dataDirectory: string): Promise<number | undefined> {
  const text = await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether `pid` exists. A zombie counts: until it is reaped PostgreSQL's lock-file check still
 * sees the old postmaster's pid, and a new start refuses.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs the postmaster and waits until it and its children are gone (they notice the
 * postmaster's death on their own), so the next start finds no shared memory in use.
 */
export async function killPostmaster(dataDirectory: string): Promise<number> {
  const pid = await postmasterPid(dataDirectory);
  if (pid === undefined) throw new Error(`no postmaster.pid in ${dataDirectory}`);
  const { stdout } = await execa('pgrep', ['-P', String(pid)], { reject: false });
  const children = stdout
    .split('\n')
    .map(Number)
    .filter((n) => n > 0);
  await killAndWait(pid);
  // Not optional: a start while an old backend still holds the shared memory fails.
  await waitFor(
    `the children of postmaster ${pid} to exit after its kill -9`,
    () => !children.some(isAlive),
    {
      timeoutMs: 15_000,
      intervalMs: 50,
      detail: () => `still running: ${children.filter(isAlive).join(', ')}`,
    },
  );
  return pid;
}

export async function killAndWait(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitFor(`pid ${pid} to exit after SIGKILL`, () => !isAlive(pid), { timeoutMs, intervalMs: 20 });
}

/** A pseudo-random delay in [minMs, maxMs) from a seed, so a failing run can be replayed. */
export function seededDelays(seed: number): (minMs: number, maxMs: number) => number {
  let state = seed >>> 0 || 1;
  return (minMs, maxMs) => {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return minMs + (state % Math.max(1, maxMs - minMs));
  };
}
