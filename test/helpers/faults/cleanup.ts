import { afterEach } from 'vitest';

/**
 * Cleanups for what fault helpers create outside temp directories (network namespaces, veth
 * pairs, mounts, proxies, child processes). A fault test file calls `useFaultCleanup()` once: its
 * afterEach runs every registered cleanup, newest first, even when the test failed, and before
 * the global afterEach (test/helpers/setup.ts) stops servers and removes temp directories.
 */
const cleanups: Array<{ what: string; run: () => Promise<void> | void }> = [];

export function onFaultCleanup(what: string, run: () => Promise<void> | void): void {
  cleanups.push({ what, run });
}

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

export function useFaultCleanup(): void {
  afterEach(async () => {
    const failures = await runFaultCleanups();
    if (failures.length > 0) throw new Error(`fault cleanup failed:\n${failures.join('\n')}`);
  });
}
