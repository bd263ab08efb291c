import { InvalidArgumentError } from 'commander';
import { durationMs } from '../config/units.js';
import { parseLsn } from '../postgres/lsn.js';

/**
 * Parsers for flag values, given to commander's `.option(..., parser)`: commander calls them while it
 * reads argv, so a bad value is a usage error (exit 2) before the command loads its config, connects
 * or asks anything. A parser throws InvalidArgumentError; commander names the flag.
 */

/** A duration (`30s`, `5m`, `250ms`, or milliseconds) in milliseconds. */
export function parseDurationFlag(value: string): number {
  const parsed = durationMs.safeParse(/^\d+$/.test(value.trim()) ? Number(value) : value);
  if (!parsed.success || parsed.data <= 0)
    throw new InvalidArgumentError(`"${value}" is not a duration; write e.g. 30s, 5m, 2h`);
  return parsed.data;
}

/** pg_basebackup --max-rate: kilobytes per second, or with a suffix k or M (32k .. 1024M). */
export function parseRateFlag(value: string): string {
  if (!/^\d+(\.\d+)?[kM]?$/.test(value.trim()))
    throw new InvalidArgumentError(
      `"${value}" is not a rate; write kB/s as 32k .. 1024M (pg_basebackup --max-rate)`,
    );
  return value.trim();
}

/** A positive whole number (a timeline). */
export function parsePositiveIntFlag(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return Number(value);
}

/** An LSN such as 0/3000060. */
export function parseLsnFlag(value: string): string {
  try {
    parseLsn(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not an LSN; write e.g. 0/3000060`);
  }
  return value.trim();
}

/** For repeatable options: commander calls it with each value and the list so far. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
