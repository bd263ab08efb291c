import getPort from 'get-port';
import { loadConfig } from '../../../src/config/index.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { pgTools, type TestCluster } from '../../helpers/cluster.js';

/** A Context for a supervisor watching `follower` of `leader`, with a short interval for tests. */
export async function supervisorContext(
  leader: TestCluster,
  follower: TestCluster,
  options: {
    slot?: string;
    intervalMs?: number;
    /** More `node` keys (failoverPriority, applyDelay...). */
    node?: Record<string, unknown>;
    extra?: Record<string, unknown>;
    signal?: AbortSignal;
  } = {},
): Promise<Context> {
  const tools = await pgTools();
  const config = loadConfig({
    env: {},
    overrides: {
      node: {
        name: 'replica_a',
        dataDirectory: follower.dataDirectory,
        port: follower.port,
        host: follower.socketDirectory,
        user: 'postgres',
        ...options.node,
      },
      leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 },
      slot: options.slot ? { enabled: true, name: options.slot } : { enabled: false },
      monitor: { intervalMs: options.intervalMs ?? 200, queryTimeoutMs: 2000 },
      http: { listen: `127.0.0.1:${await getPort()}` },
      log: { level: 'silent' },
      ...options.extra,
    },
  });
  return {
    config,
    logger: createSilentLogger(),
    exec: tools.exec,
    bin: tools.bin,
    clock: systemClock,
    signal: options.signal ?? new AbortController().signal,
    reporter: silentReporter,
  };
}
