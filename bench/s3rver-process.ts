/**
 * s3rver in its own Node.js process, one bucket `wal`, for benchmarks: a real store is elsewhere, and
 * in the benchmark's process it would compete with the code measured for the one JavaScript thread.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';

/** dist/bench -> repository root (where node_modules/s3rver is). */
const repoRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** AWS SDK settings that s3rver accepts. */
export const S3RVER_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

export interface S3rverProcess {
  endpoint: string;
  /** The server process (its CPU is part of what an S3 fetch costs on this machine). */
  pid: number | undefined;
  stop(): void;
}

export async function startS3rverProcess(directory: string): Promise<S3rverProcess> {
  const port = await getPort();
  const options = {
    port,
    address: '127.0.0.1',
    directory,
    silent: true,
    configureBuckets: [{ name: 'wal' }],
  };
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import S3rver from 's3rver'; await new S3rver(${JSON.stringify(options)}).run(); console.log('ready');`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((ready, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) ready();
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}
