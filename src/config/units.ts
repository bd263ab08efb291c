import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';

/** A size: a number of bytes or a string such as `16MB` (1 MB = 1024 kB, as PostgreSQL counts). */
export const sizeBytes = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const parsed = typeof value === 'number' ? value : bytes.parse(value.trim());
  if (
    parsed === null ||
    !Number.isSafeInteger(Math.floor(parsed)) ||
    parsed < 0 ||
    (typeof value === 'number' && !Number.isInteger(value))
  ) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size; write e.g. 16MB, 1GB or a number of bytes`,
    });
    return z.NEVER;
  }
  return Math.floor(parsed);
});

/**
 * The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires at
 * once, with a TimeoutOverflowWarning, so no duration may exceed it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration in milliseconds: a number of ms or a string such as `30s`, `5m`, `250ms`. */
export const durationMs = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  const parsed =
    typeof value === 'number' ? value : (ms(value.trim() as ms.StringValue) as number | undefined);
  if (parsed === undefined || !Number.isFinite(parsed) || parsed < 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; write e.g. 500ms, 30s, 5m, 2h` });
    return z.NEVER;
  }
  if (parsed > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: `${String(value)} is too long: at most 24d` });
    return z.NEVER;
  }
  return parsed;
});

/**
 * A duration key with its own sane range, named in the error: `monitor.intervalMs: 0` would tick
 * hundreds of times a second, `1e308` overflows every timer.
 */
export function boundedDuration(min: number, max: number) {
  return durationMs.superRefine((value, ctx) => {
    if (value < min || value > max) {
      ctx.addIssue({
        code: 'custom',
        message: `${formatDurationMs(value)} is out of range: write a duration from ${formatDurationMs(min)} to ${formatDurationMs(max)}`,
      });
    }
  });
}

/** A size key with its own sane range, named in the error. */
export function boundedSize(min: number, max: number) {
  return sizeBytes.superRefine((value, ctx) => {
    if (value < min || value > max) {
      ctx.addIssue({
        code: 'custom',
        message: `${formatBytes(value)} is out of range: write a size from ${formatBytes(min)} to ${formatBytes(max)}`,
      });
    }
  });
}

/**
 * Seconds from text: a bare number is seconds (`30`, `2.5`), otherwise a duration with a unit
 * (`30s`, `5m`, `1h`, `500ms`). undefined when it is neither, or negative.
 */
export function parseDurationSeconds(text: string): number | undefined {
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const parsed = ms(value as ms.StringValue) as number | undefined;
  if (parsed === undefined || !Number.isFinite(parsed) || parsed < 0) return undefined;
  return parsed / 1000;
}

/** A duration in seconds: a number of seconds or a string such as `30`, `30s`, `5m`. */
export const durationSeconds = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const parsed = parseDurationSeconds(value);
  if (parsed === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a duration; write e.g. 30 (seconds), 30s, 5m`,
    });
    return z.NEVER;
  }
  return parsed;
});

export function formatBytes(value: number | bigint): string {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return bytes.format(n, { unitSeparator: ' ', decimalPlaces: 1 }) ?? `${n} B`;
}

export function formatDurationMs(value: number): string {
  return value === 0 ? '0' : ms(Math.round(value), { long: false });
}
