import { ExitCode, PgFollowerError } from '../errors.js';

/**
 * A setting the schema leaves optional (a plain `run` needs no data directory) but the command at
 * hand cannot do without: fail with the key to set.
 */
export function requireSetting<T extends string>(value: T | undefined, key: string): T {
  if (!value) throw new PgFollowerError('CONFIG_MISSING', `${key} is required`, ExitCode.USAGE);
  return value;
}
