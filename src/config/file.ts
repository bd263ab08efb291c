import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import type { ConfigProblem } from '../errors.js';

/**
 * Finding and reading the config file, without parsing it: kept apart from load.ts (YAML and zod)
 * so the per-segment commands can look at the file before deciding whether they need those at all
 * (cache.ts).
 */

/** Where the install path puts the config (docs, README and the systemd units agree). */
export const DEFAULT_CONFIG_FILE = '/etc/pgfollower/pgfollower.yaml';

/** A config file is a few kilobytes; anything past this is not one. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The config file a command reads: --config, else PGFOLLOWER_CONFIG, else DEFAULT_CONFIG_FILE when it
 * exists, else none (defaults, environment and flags only).
 */
export function resolveConfigFile(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  if (flag) return flag;
  if (env.PGFOLLOWER_CONFIG) return env.PGFOLLOWER_CONFIG;
  return exists(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** The text and permission bits of a config file, or undefined with the reason in `problems`. */
export function readConfigText(
  file: string,
  problems: ConfigProblem[],
): { text: string; mode: number } | undefined {
  let fd: number | undefined;
  try {
    // Non-blocking open, then fstat: a FIFO would block the main thread in open() (even SIGTERM
    // waits), and /dev/zero would be read until memory runs out.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      problems.push({
        key: '(file)',
        message: `${file} is not a regular file; --config takes a YAML file`,
      });
      return undefined;
    }
    if (stat.size > MAX_CONFIG_BYTES) {
      problems.push({
        key: '(file)',
        message: `${file} is ${stat.size} bytes; a config file is at most ${MAX_CONFIG_BYTES} bytes`,
      });
      return undefined;
    }
    return { text: readFileSync(fd, 'utf8'), mode: stat.mode };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push({
      key: '(file)',
      message: `cannot read ${file} (${code ?? String(error)}); check --config or PGFOLLOWER_CONFIG`,
    });
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
