import { execFileSync } from 'node:child_process';

/**
 * Whether `program` is on PATH. Tests of real clients (haproxy, promtool, zsh) skip without them
 * on a developer's machine; `.ci/run` installs them, so CI runs every one.
 */
export function installed(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
