/**
 * The one archive interface. Keys are relative to the archive root ("wal/00000001/..."), bodies are
 * whole objects (a WAL segment is 16 MB by default: buffering it is cheaper than streaming twice
 * for the checksum). Implementations: fs-store.ts (a directory, local or NFS), s3-store.ts.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Metadata stored with the object (s3 user metadata; fs: a hidden `.<name>.meta` sidecar). */
  metadata: Record<string, string>;
}

export interface StoredObject extends ObjectInfo {
  body: Buffer;
}

export type PutOutcome = 'created' | 'exists';

export interface ArchiveStore {
  /** For logs and messages, without secrets: "fs:/srv/wal" or "s3://bucket/prefix". */
  readonly description: string;
  /**
   * Writes atomically and never overwrites: readers see the whole object or nothing; resolves
   * 'exists' when the key was already there (the caller compares contents).
   */
  put(key: string, body: Buffer, metadata: Record<string, string>, signal?: AbortSignal): Promise<PutOutcome>;
  get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined>;
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined>;
  /** Objects whose key starts with `prefix`, in key order; after `startAfter` when given. */
  list(prefix: string, options?: { startAfter?: string; signal?: AbortSignal }): Promise<ObjectInfo[]>;
  /**
   * Removes an object; resolves false when it was not there. Only retention (`backup expire`)
   * deletes, and only what it printed first. On fs, a folder left empty is removed too.
   */
  delete(key: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Keys in `folder` whose object is gone but whose metadata sidecar is still there (fs only: old
   * code deleted a backup's parts but not their `.meta` files, leaving folders that held nothing
   * else). `delete(key)` removes such a sidecar, and the folder once empty. Stores that keep
   * metadata with the object (s3) have none and leave this out.
   */
  orphanedSidecars?(folder: string, signal?: AbortSignal): Promise<string[]>;
  /** Releases connections. */
  close(): void;
}
