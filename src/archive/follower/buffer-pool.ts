/**
 * Segment-sized buffers the prefetcher reuses: an lz4 segment is decoded into one, written to the
 * spool, and the buffer goes back. A fresh 16 MiB buffer per segment costs page faults on new memory
 * and garbage-collector work on every fetch, more than the decoding (docs/benchmarks/archive.md).
 * At most `max` buffers are kept; more are allocated when more fetches run at once, and dropped.
 */
interface BufferPool {
  /** A buffer of the current size, or undefined while the size is not known. */
  acquire(): Buffer | undefined;
  release(buffer: Buffer | undefined): void;
  /** Drops the kept buffers (the prefetcher is idle: its memory should not stay held). */
  clear(): void;
  /** Buffers kept (for tests and stats). */
  readonly kept: number;
}

export function createBufferPool(size: () => number | undefined, max: () => number): BufferPool {
  const free: Buffer[] = [];
  return {
    acquire() {
      const want = size();
      if (!want) return undefined;
      for (let b = free.pop(); b; b = free.pop()) if (b.length === want) return b;
      return Buffer.allocUnsafe(want);
    },
    release(buffer) {
      if (buffer && buffer.length === size() && free.length < max()) free.push(buffer);
    },
    clear() {
      free.length = 0;
    },
    get kept() {
      return free.length;
    },
  };
}
