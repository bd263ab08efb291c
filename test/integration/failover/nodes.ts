import getPort from 'get-port';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { makeTempDir, writeConfigFile, type TestCluster } from '../../helpers/cluster.js';

/** A pgfollower config for an existing test cluster (follower made by cloneFollower). */
export async function configFor(
  node: TestCluster,
  name: string,
  leader: TestCluster | undefined,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const dir = await makeTempDir('pgf-conf-');
  return writeConfigFile(dir, {
    node: {
      name,
      dataDirectory: node.dataDirectory,
      port: node.port,
      host: node.socketDirectory,
      user: 'postgres',
    },
    ...(leader ? { leader: { conninfo: leader.conninfo, connectTimeoutMs: 2000 } } : {}),
    log: { level: 'warn' },
    // Another helper's supervisor may listen on the default port: never ask it.
    http: { enabled: false, listen: `127.0.0.1:${await getPort()}` },
    ...extra,
  });
}

/** Runs the CLI in-process, as an operator would from a non-interactive shell. */
export async function run(
  args: string[],
  options: { signal?: AbortSignal } = {},
): Promise<{ code: number; text: string; stdout: string }> {
  const output = createMemoryOutput();
  const code = await main(args, { output, signal: options.signal });
  return { code, text: output.text(), stdout: output.stdout.join('\n') };
}
