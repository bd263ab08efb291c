import { rmdir } from 'node:fs/promises';
import type { Context } from '../context.js';
import type { PgTools } from '../postgres/cluster.js';
import { listAside, moveAside, removeAside, type DirectoryState } from '../postgres/data-directory.js';

/**
 * Makes room at `dataDirectory` for a new copy (bootstrap from the leader or from the archive), after
 * the plan was confirmed:
 * - the `.incomplete-*` copies an interrupted bootstrap left beside it are removed (never a complete
 *   directory: those are the operator's);
 * - a directory with anything in it is moved aside (renamed on the same filesystem, nothing is
 *   deleted) and its new path returned, for the caller to name in its result and to move back if the
 *   copy fails;
 * - an empty one (often a mount point) is removed so the staged copy can be renamed into place;
 *   `rmdir` only succeeds when it is empty, and a busy mount point is copied into directly.
 */
export async function clearTarget(
  ctx: Context,
  tools: PgTools,
  dataDirectory: string,
  state: DirectoryState,
): Promise<string | undefined> {
  for (const dir of listAside(dataDirectory).filter((p) => p.includes('.incomplete-'))) {
    ctx.reporter.step(`removing ${dir}, left by an interrupted bootstrap`);
    await removeAside(dir, { configured: dataDirectory });
  }
  if (state === 'data-directory' || state === 'other') {
    ctx.reporter.step(`moving ${dataDirectory} aside`);
    const aside = await moveAside(tools, dataDirectory, {
      configured: dataDirectory,
      kind: 'old',
      clock: ctx.clock,
    });
    ctx.reporter.done(`moved the old directory to ${aside}; delete it yourself once you no longer need it`);
    return aside;
  }
  if (state === 'empty') await rmdir(dataDirectory).catch(() => undefined);
  return undefined;
}
