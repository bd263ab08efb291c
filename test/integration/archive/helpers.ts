import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import getPort from 'get-port';
import S3rver from 's3rver';
import { loadConfig } from '../../../src/config/index.js';
import type { Config } from '../../../src/config/schema.js';
import { silentReporter, systemClock, type Context } from '../../../src/context.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { pgTools } from '../../helpers/cluster.js';

/** The built CLI: archive_command and restore_command run it as the postgres OS user. */
export const cliPath = resolve('dist/src/cli/bin.js');

export function requireBuiltCli(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
}

/** s3rver's fixed test credentials, for the AWS default credential chain. */
export const s3Env = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

export interface TestS3 {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** A real S3 protocol server on loopback with one bucket "wal". */
export async function startS3(): Promise<TestS3> {
  const port = await getPort();
  const directory = await mkdtemp(join(tmpdir(), 'pgf-s3-'));
  const server = new S3rver({
    port,
    address: '127.0.0.1',
    directory,
    silent: true,
    configureBuckets: [{ name: 'wal' }],
  });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      await server.close().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export function s3ArchiveConfig(endpoint: string, prefix = 'clusterA/'): Record<string, unknown> {
  return {
    type: 's3',
    s3: { bucket: 'wal', prefix, endpoint, forcePathStyle: true, maxAttempts: 2, checksums: 'when-required' },
    compression: 'lz4',
  };
}

/** A Context for calling domain functions in-process, as root with PG programs as postgres. */
export async function testContext(
  tree: Record<string, unknown>,
  signal = new AbortController().signal,
): Promise<Context> {
  const tools = await pgTools();
  const config: Readonly<Config> = loadConfig({ overrides: tree, env: {} });
  return {
    config,
    logger: createSilentLogger(),
    exec: tools.exec,
    bin: tools.bin,
    clock: systemClock,
    signal,
    reporter: silentReporter,
  };
}

/** Runs `fn` with the S3 credentials in process.env (the SDK's default chain reads them). */
export function setS3Env(): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(s3Env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
