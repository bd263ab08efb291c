import { ArchiveError } from '../errors.js';
import type { WalRange } from './layout.js';

/** The WAL ranges of a backup_manifest (JSON, "WAL-Ranges", PostgreSQL 13+). */
export function parseManifest(manifest: Buffer): { ranges: WalRange[] } {
  let doc: { 'WAL-Ranges'?: Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }> };
  try {
    doc = JSON.parse(manifest.toString('utf8')) as typeof doc;
  } catch (error) {
    throw new ArchiveError(`backup_manifest is not JSON: ${(error as Error).message}`, {
      code: 'BACKUP_CORRUPT',
    });
  }
  const ranges = (doc['WAL-Ranges'] ?? []).map((r) => ({
    timeline: r.Timeline,
    startLsn: r['Start-LSN'],
    endLsn: r['End-LSN'],
  }));
  if (ranges.length === 0) {
    throw new ArchiveError('backup_manifest names no WAL range', { code: 'BACKUP_CORRUPT' });
  }
  return { ranges };
}

/** START TIMELINE and BACKUP FROM of a backup_label. */
export function parseBackupLabel(text: string): {
  timeline?: number;
  backupFrom?: string;
  startWalFile?: string;
} {
  const timeline = /^START TIMELINE: (\d+)$/m.exec(text)?.[1];
  const from = /^BACKUP FROM: (\w+)$/m.exec(text)?.[1];
  const file = /^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$/m.exec(text)?.[1];
  return {
    ...(timeline ? { timeline: Number(timeline) } : {}),
    ...(from ? { backupFrom: from } : {}),
    ...(file ? { startWalFile: file } : {}),
  };
}
