/**
 * Cleanups for what fault helpers create outside temp directories (network namespaces, veth
 * pairs, mounts, proxies, child processes). No test-runner import here: bench/soak.ts uses the
 * helpers too. Tests call `useFaultCleanup()` (cleanup.ts), which runs these after each test.
 */
const cleanups: Array<{ what: string; run: () => Promise<void> | void }> = [];

export function onFaultCleanup(what: string, run: () => Promise<void> | void): void {
  cleanups.push({ what, run });
}

/** Runs every registered cleanup, newest first; returns what failed. */
export async function runFaultCleanups(): Promise<string[]> {
  const failures: string[] = [];
  while (cleanups.length > 0) {
    const entry = cleanups.pop();
    if (!entry) break;
    try {
      await entry.run();
    } catch (error) {
      failures.push(`${entry.what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return failures;
}
