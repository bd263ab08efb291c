import { candidateKeys, type WalFile } from './layout.js';
import type { ArchiveStore } from './store.js';

/** The key an archived copy of `file` has under any codec, if one exists. */
export async function findExisting(
  store: ArchiveStore,
  file: WalFile,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const candidates = candidateKeys(file);
  if (candidates.length === 1) {
    const only = candidates[0] as string;
    return (await store.head(only, signal)) ? only : undefined;
  }
  // One listing answers for every codec variant of the name.
  const listed = await store.list(candidates[0] as string, { signal });
  const keys = new Set(listed.map((o) => o.key));
  return candidates.find((k) => keys.has(k));
}
