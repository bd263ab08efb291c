import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { onFaultCleanup } from './registry.js';

/**
 * A small tmpfs mounted at `dir` (as root): a filesystem that really fills up, for "archive disk
 * full". `resize` grows or shrinks it in place (mount -o remount), so a test can free space
 * without touching what is stored. Unmounted by the fault cleanup, lazily if still busy.
 */
interface SmallFilesystem {
  dir: string;
  resize(bytes: number): Promise<void>;
  freeBytes(): Promise<number>;
  unmount(): Promise<void>;
}

export function canMount(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function mountSmallTmpfs(
  dir: string,
  bytes: number,
  owner?: { uid: number; gid: number },
): Promise<SmallFilesystem> {
  await mkdir(dir, { recursive: true });
  const opts = [`size=${bytes}`, 'mode=0750'];
  if (owner) opts.push(`uid=${owner.uid}`, `gid=${owner.gid}`);
  await execa('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'pgf-faults', dir]);
  let mounted = true;
  const fs: SmallFilesystem = {
    dir,
    async resize(size) {
      await execa('mount', ['-o', `remount,size=${size}`, dir]);
    },
    async freeBytes() {
      const { stdout } = await execa('df', ['-B1', '--output=avail', dir]);
      return Number(stdout.trim().split('\n').pop());
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await execa('umount', [dir]).catch(() => execa('umount', ['-l', dir]));
    },
  };
  onFaultCleanup(`tmpfs ${dir}`, () => fs.unmount());
  return fs;
}
