/** JSON.stringify replacer: LSNs and byte counts are bigint; JSON carries them as decimal strings. */
export function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
