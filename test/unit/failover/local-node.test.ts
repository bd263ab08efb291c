import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Context } from '../../../src/context.js';
import { requireDataDirectory } from '../../../src/failover/local-node.js';
import { unitContext } from '../../helpers/context.js';

function contextWith(node: Record<string, unknown>): Context {
  return unitContext({ node });
}

describe('local node', () => {
  it('resolves the configured data directory to an absolute path', () => {
    expect(requireDataDirectory(contextWith({ dataDirectory: 'pg/data' }))).toBe(resolve('pg/data'));
  });

  it('refuses with the key to set when no data directory is configured', () => {
    expect(() => requireDataDirectory(contextWith({}))).toThrow('node.dataDirectory is required');
  });
});
