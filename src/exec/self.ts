import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * How PostgreSQL runs this very program (archive_command, restore_command): node and bin.js by
 * absolute path, since PATH under the postmaster differs from ours. From TypeScript sources (the
 * tests run those) the built copy in dist/ is used; `npm test` builds it first.
 */
export function selfCommand(): [node: string, script: string] {
  const beside = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
  if (existsSync(beside)) return [process.execPath, beside];
  return [process.execPath, fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url))];
}
