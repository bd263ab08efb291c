import { PgFollowerError, ExitCode } from '../errors.js';

/**
 * A streaming reader of the tar format pg_basebackup writes (`-Ft`): ustar headers of 512 bytes,
 * bodies padded to 512, two zero blocks at the end. PostgreSQL writes only regular files,
 * directories and symbolic links (src/port/tar.c), sizes in octal or, above 8 GB, in base-256.
 * Bytes arrive in chunks of any size (a part boundary may fall inside a header); the parser keeps
 * what it needs and hands bodies on in the same chunks, so nothing of a file is buffered.
 */

export type TarEntryType = 'file' | 'directory' | 'symlink';

export interface TarEntry {
  /** Path relative to the archive root, without "./" and without a trailing slash. */
  path: string;
  type: TarEntryType;
  mode: number;
  size: number;
  mtime: number;
  linkTarget: string;
}

interface TarHandler {
  entry(entry: TarEntry): void | Promise<void>;
  data(entry: TarEntry, chunk: Buffer): void | Promise<void>;
  end(entry: TarEntry): void | Promise<void>;
}

const BLOCK = 512;

class TarFormatError extends PgFollowerError {
  constructor(message: string) {
    super('BACKUP_CORRUPT', `not a valid tar stream: ${message}`, ExitCode.FAILED, {
      hint: 'the stored backup is damaged or was not written by pgfollower backup; run pgfollower backup verify',
    });
  }
}

export class TarParser {
  private pending: Buffer = Buffer.alloc(0);
  private current: TarEntry | undefined;
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  private finished = false;
  /** Bytes seen, for progress. */
  bytes = 0;

  constructor(private readonly handler: TarHandler) {}

  get done(): boolean {
    return this.finished;
  }

  async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0) {
      if (this.finished) return; // trailing zero padding after the end marker
      if (this.remaining > 0 && this.current) {
        const n = Math.min(this.remaining, buf.length);
        await this.handler.data(this.current, buf.subarray(0, n));
        this.remaining -= n;
        buf = buf.subarray(n);
        if (this.remaining === 0) {
          await this.handler.end(this.current);
          if (this.padding === 0) this.current = undefined;
        }
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, buf.length);
        this.padding -= n;
        buf = buf.subarray(n);
        if (this.padding === 0) this.current = undefined;
        continue;
      }
      if (buf.length < BLOCK) {
        this.pending = Buffer.from(buf);
        return;
      }
      const header = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (isZeroBlock(header)) {
        this.zeroBlocks++;
        if (this.zeroBlocks >= 2) this.finished = true;
        continue;
      }
      this.zeroBlocks = 0;
      const entry = parseHeader(header);
      this.current = entry;
      await this.handler.entry(entry);
      this.remaining = entry.type === 'file' ? entry.size : 0;
      this.padding = entry.type === 'file' ? (BLOCK - (entry.size % BLOCK)) % BLOCK : 0;
      if (this.remaining === 0) {
        await this.handler.end(entry);
        if (this.padding === 0) this.current = undefined;
      }
    }
  }

  /** Throws unless the stream ended exactly after a whole archive. */
  finish(): void {
    if (this.finished) return;
    if (this.remaining > 0 || this.padding > 0 || this.pending.length > 0) {
      throw new TarFormatError(`the stream ends inside ${this.current?.path ?? 'a header'}`);
    }
    throw new TarFormatError('the end-of-archive marker is missing (the backup stream was cut short)');
  }
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function readString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** Octal, or base-256 (high bit of the first byte set) for values that do not fit. */
function readNumber(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = BigInt((field[0] ?? 0) & 0x7f);
    for (let i = 1; i < field.length; i++) value = (value << 8n) | BigInt(field[i] ?? 0);
    return Number(value);
  }
  const text = readString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad number field "${text}"`);
  return Number.parseInt(text, 8);
}

function parseHeader(block: Buffer): TarEntry {
  // The checksum treats its own field as spaces.
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  const recorded = readNumber(block, 148, 8);
  if (recorded !== sum) throw new TarFormatError(`header checksum ${recorded} differs from ${sum}`);
  const name = readString(block, 0, 100);
  const prefix = readString(block, 345, 155);
  const typeflag = String.fromCharCode(block[156] ?? 0);
  let type: TarEntryType;
  if (typeflag === '0' || typeflag === '\0' || typeflag === '7') type = 'file';
  else if (typeflag === '5') type = 'directory';
  else if (typeflag === '2') type = 'symlink';
  else throw new TarFormatError(`unsupported entry type "${typeflag}" for ${name}`);
  const path = normalizePath(prefix ? `${prefix}/${name}` : name);
  return {
    path,
    type,
    mode: readNumber(block, 100, 8) & 0o7777,
    size: readNumber(block, 124, 12),
    mtime: readNumber(block, 136, 12),
    linkTarget: readString(block, 157, 100),
  };
}

/** "./pg_wal/archive_status/" -> "pg_wal/archive_status"; refuses paths that leave the root. */
function normalizePath(raw: string): string {
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (raw.startsWith('/') || parts.includes('..')) {
    throw new TarFormatError(`entry path "${raw}" leaves the target directory`);
  }
  return parts.join('/');
}
