import { loadConfig } from '../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../src/context.js';
import { createExec } from '../../src/exec/run.js';
import { createSilentLogger } from '../../src/logging/logger.js';

/**
 * A Context for unit tests that call domain functions in this process: the config from `overrides`
 * (defaults otherwise), silent logs, no PostgreSQL programs (a lookup fails loudly).
 * Integration tests that run PostgreSQL programs use testContext (archive.ts).
 */
export function unitContext(
  overrides: Record<string, unknown> = {},
  signal: AbortSignal = new AbortController().signal,
): Context {
  return {
    config: loadConfig({ overrides, env: {} }),
    logger: createSilentLogger(),
    exec: createExec(undefined),
    bin: { binDir: '', major: 15, path: () => '/nonexistent' },
    clock: systemClock,
    signal,
    reporter: silentReporter,
  };
}
