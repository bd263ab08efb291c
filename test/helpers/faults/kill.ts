import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/** kill -9 helpers: no shutdown handler runs, exactly as after an OOM kill or a power cut. */

/** The postmaster's pid from postmaster.pid, or undefined when the server is not running. */
async function postmasterPid(dataDirectory: string): Promise<number | undefined> {
  const text = await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

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
  const deadline = Date.now() + 15_000;
  while (children.some(isAlive) && Date.now() < deadline) await sleep(50);
  return pid;
}

export async function killAndWait(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  if (isAlive(pid)) throw new Error(`pid ${pid} survived SIGKILL for ${timeoutMs} ms`);
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
