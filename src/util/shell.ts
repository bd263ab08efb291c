/**
 * Single-quotes for sh, and doubles % because PostgreSQL replaces %f, %p, %r and %% in
 * restore_command: a literal % in a path must reach it as %%.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
}
