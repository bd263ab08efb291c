/**
 * Single-quotes for sh, and doubles % because PostgreSQL replaces %f, %p, %r and %% in
 * restore_command: a literal % in a path must reach it as %%.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
}

/**
 * Single-quotes for sh without touching %: for text already made of shellQuote'd words (its % are
 * doubled once), quoted a second time to become the script of `sh -c`.
 */
export function shellQuoteScript(script: string): string {
  return `'${script.replace(/'/g, `'\\''`)}'`;
}
