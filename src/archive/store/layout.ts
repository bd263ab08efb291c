import { codecExtensions, type CodecName } from './codec.js';

/**
 * Object layout of the archive (docs/archive.md), the same for fs and s3:
 *
 *     <prefix>wal/<timeline>/<file><codec extension>
 *
 * e.g. `wal/00000001/000000010000000000000003.lz4`, `wal/00000002/00000002.history`,
 * `wal/00000001/000000010000000000000007.partial.lz4`,
 * `wal/00000001/000000010000000000000002.00000028.backup`. Keying by timeline keeps one timeline's
 * segments together (listing a timeline is one prefix), and history files sit with the timeline
 * they describe. Only segments and .partial files are compressed: history and backup-label files
 * are tiny text an operator may want to read directly.
 */
export type WalFileKind = 'segment' | 'partial' | 'history' | 'backup';

export interface WalFile {
  name: string;
  kind: WalFileKind;
  /** Timeline as 8 hex digits, as in the name. */
  timelineHex: string;
  timeline: number;
}

const patterns: Array<[WalFileKind, RegExp]> = [
  ['segment', /^([0-9A-F]{8})[0-9A-F]{16}$/],
  ['partial', /^([0-9A-F]{8})[0-9A-F]{16}\.partial$/],
  ['history', /^([0-9A-F]{8})\.history$/],
  ['backup', /^([0-9A-F]{8})[0-9A-F]{16}\.[0-9A-F]{8}\.backup$/],
];

/** Classifies a file name PostgreSQL hands to archive_command / restore_command; undefined if none. */
export function parseWalFile(name: string): WalFile | undefined {
  for (const [kind, re] of patterns) {
    const match = re.exec(name);
    if (match) {
      const timelineHex = match[1] as string;
      return { name, kind, timelineHex, timeline: Number.parseInt(timelineHex, 16) };
    }
  }
  return undefined;
}

export function isCompressible(kind: WalFileKind): boolean {
  return kind === 'segment' || kind === 'partial';
}

export function timelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

/** Folder (key prefix, relative to the archive root) holding one timeline's files. */
export function timelineDir(timeline: number | string): string {
  return `wal/${typeof timeline === 'number' ? timelineHex(timeline) : timeline}/`;
}

/** Key a file is written under with a codec. */
export function objectKey(file: WalFile, codec: CodecName): string {
  const ext = isCompressible(file.kind) ? codecExtensions[codec] : '';
  return `${timelineDir(file.timelineHex)}${file.name}${ext}`;
}

/** Every key a file may have been written under (any codec): readers accept each. */
export function candidateKeys(file: WalFile): string[] {
  if (!isCompressible(file.kind)) return [`${timelineDir(file.timelineHex)}${file.name}`];
  return Object.values(codecExtensions).map((ext) => `${timelineDir(file.timelineHex)}${file.name}${ext}`);
}

/** The WAL file name an object key holds (codec extension stripped), or undefined. */
export function fileNameOfKey(key: string): string | undefined {
  const base = key.slice(key.lastIndexOf('/') + 1);
  for (const ext of Object.values(codecExtensions)) {
    if (!ext || !base.endsWith(ext)) continue;
    const name = base.slice(0, -ext.length);
    if (parseWalFile(name)) return name;
  }
  return parseWalFile(base) ? base : undefined;
}
