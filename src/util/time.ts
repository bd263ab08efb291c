/**
 * A compact UTC timestamp for names on disk (`20261202T004812Z`): sorts as text, has no `:` (which
 * some tools treat as a separator), and says its zone. Takes the time from the caller, which reads
 * it from `ctx.clock` where it has one.
 */
export function compactTimestamp(at: number | Date): string {
  return new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}
