import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { createExec } from '../../../src/exec/run.js';
import { requireDataDirectory } from '../../../src/failover/local-node.js';
import { createSilentLogger } from '../../../src/logging/logger.js';

function contextWith(node: Record<string, unknown>): Context {
  return {
    config: loadConfig({ overrides: { node }, env: {} }),
    logger: createSilentLogger(),
    exec: createExec(undefined),
    bin: { binDir: '', major: 15, path: () => '/nonexistent' },
    clock: systemClock,
    signal: new AbortController().signal,
    reporter: silentReporter,
  };
}

describe('local node', () => {
  it('resolves the configured data directory to an absolute path', () => {
    expect(requireDataDirectory(contextWith({ dataDirectory: 'pg/data' }))).toBe(resolve('pg/data'));
  });

  it('refuses with the key to set when no data directory is configured', () => {
    expect(() => requireDataDirectory(contextWith({}))).toThrow('node.dataDirectory is required');
  });
});
