/**
 * The one wait of the test suite: polls `probe` until it returns a value that is not undefined,
 * false or null, or fails at the deadline saying what was awaited, the last value (or error), and
 * `detail()` when given (e.g. the state of the thing under test).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  options: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false && value !== null) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
  const lastText = last instanceof Error ? last.message : JSON.stringify(last);
  const detail = options.detail ? `; ${options.detail()}` : '';
  throw new Error(`timed out waiting for ${what}; last: ${lastText}${detail}`);
}
