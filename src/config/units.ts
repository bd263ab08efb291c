import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';

/** A size: a number of bytes or a string such as `16MB` (1 MB = 1024 kB, as PostgreSQL counts). */
export const sizeBytes = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const parsed = bytes.parse(value.trim());
  if (parsed === null || !Number.isFinite(parsed) || parsed < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size; write e.g. 16MB, 1GB or a number of bytes`,
    });
    return z.NEVER;
  }
  return parsed;
});

/** A duration in milliseconds: a number of ms or a string such as `30s`, `5m`, `250ms`. */
export const durationMs = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const parsed = ms(value.trim() as ms.StringValue) as number | undefined;
  if (parsed === undefined || !Number.isFinite(parsed) || parsed < 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; write e.g. 500ms, 30s, 5m, 2h` });
    return z.NEVER;
  }
  return parsed;
});

export function formatBytes(value: number | bigint): string {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return bytes.format(n, { unitSeparator: ' ', decimalPlaces: 1 }) ?? `${n} B`;
}

export function formatDurationMs(value: number): string {
  return ms(Math.round(value), { long: false });
}
