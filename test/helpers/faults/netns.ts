import { randomInt } from 'node:crypto';
import { execa } from 'execa';
import { onFaultCleanup } from './registry.js';
import { waitFor } from '../wait.js';

/**
 * A network namespace joined to this one by a veth pair: a second "host" with its own network
 * stack, for partitions the kernel really does. `blackhole()` takes the host end of the pair
 * down: packets in both directions are dropped with no RST and no FIN, TCP keepalives go
 * unanswered and connects hang (the worst case for timeouts). `heal()` brings it up again and
 * TCP retransmits as after a real outage. Only addresses in 10.254.0.0/16, only this machine.
 *
 * Needs root and `ip` (iproute2). Deleted by the fault cleanup, even when the test failed.
 */
interface NetNamespace {
  name: string;
  /** Address of this (the test's) side of the pair; listen here to be reachable from inside. */
  hostAddress: string;
  /** Address of the namespace's side. */
  nsAddress: string;
  /** argv prefix that runs a program inside the namespace: [...prefix, program, ...args]. */
  prefix: string[];
  blackhole(): Promise<void>;
  heal(): Promise<void>;
  remove(): Promise<void>;
}

export async function canUseNetns(): Promise<boolean> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  const probe = await execa('ip', ['netns', 'list'], { reject: false });
  return probe.exitCode === 0;
}

export async function createNetns(): Promise<NetNamespace> {
  const id = randomInt(1, 250);
  const tag = `${process.pid % 10000}${id}`;
  const name = `pgf-${tag}`;
  const hostIf = `pgfh${tag}`.slice(0, 15);
  const nsIf = `pgfn${tag}`.slice(0, 15);
  const net = `10.254.${id}`;
  const hostAddress = `${net}.1`;
  const nsAddress = `${net}.2`;
  const ip = (...args: string[]) => execa('ip', args);
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await execa('ip', ['link', 'del', hostIf], { reject: false });
    await execa('ip', ['netns', 'del', name], { reject: false });
  };
  onFaultCleanup(`netns ${name}`, remove);
  await ip('netns', 'add', name);
  await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name);
  await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
  await ip('link', 'set', hostIf, 'up');
  await ip('-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf);
  await ip('-n', name, 'link', 'set', nsIf, 'up');
  await ip('-n', name, 'link', 'set', 'lo', 'up');
  return {
    name,
    hostAddress,
    nsAddress,
    prefix: ['ip', 'netns', 'exec', name],
    async blackhole() {
      await ip('link', 'set', hostIf, 'down');
    },
    async heal() {
      await ip('link', 'set', hostIf, 'up');
      // The prefix route comes back with the link; the partition is healed only once the kernel
      // has it (a caller testing recovery must not run on without it).
      await waitFor(
        `the route to ${nsAddress} via ${hostIf} after the link came up`,
        async () =>
          (await execa('ip', ['route', 'get', nsAddress], { reject: false })).stdout.includes(hostIf),
        { timeoutMs: 10_000, intervalMs: 50 },
      );
    },
    remove,
  };
}
