import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * pgfollower's own package.json, found by walking up from this module: the same answer from the
 * TypeScript sources (tests), the tsc output in dist/src and the bundle in dist/cli, which sit at
 * different depths. Read once, and only by what needs it (`--version`, selfCommand()).
 */
interface PackageInfo {
  root: string;
  version: string;
  bin: Record<string, string>;
}

let cached: PackageInfo | undefined;

export function readPackageInfo(): PackageInfo {
  if (cached) return cached;
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as Partial<PackageInfo> & { name?: string };
      if (pkg.name === 'pgfollower') {
        cached = { root: dir, version: pkg.version ?? '0.0.0', bin: pkg.bin ?? {} };
        return cached;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no pgfollower package.json above ${here}`);
    dir = parent;
  }
}

/** The program package.json `bin` names: what an install runs, and what tests that spawn the CLI run. */
export function shippedProgram(): string {
  const info = readPackageInfo();
  const bin = info.bin.pgfollower;
  if (!bin) throw new Error(`package.json in ${info.root} has no bin.pgfollower`);
  return resolve(info.root, bin);
}

/**
 * How PostgreSQL runs this very program (archive_command, restore_command): node and the program
 * by absolute path, since PATH under the postmaster differs from ours. The program is the one
 * package.json `bin` names (the bundle in dist/cli that `npm run build` makes), also when this runs
 * from the TypeScript sources (tests) or the unbundled tsc output; `npm test` builds it first.
 */
export function selfCommand(): [node: string, script: string] {
  return [process.execPath, shippedProgram()];
}
