import { afterEach } from 'vitest';
import { runFaultCleanups } from './registry.js';

export { onFaultCleanup } from './registry.js';

/**
 * A fault test file calls this once: its afterEach runs every registered cleanup, newest first,
 * even when the test failed, and before the global afterEach (test/helpers/setup.ts) stops
 * servers and removes temp directories.
 */
export function useFaultCleanup(): void {
  afterEach(async () => {
    const failures = await runFaultCleanups();
    if (failures.length > 0) throw new Error(`fault cleanup failed:\n${failures.join('\n')}`);
  });
}
