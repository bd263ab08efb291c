import type { CodecName } from '../archive/store/codec.js';
import { codecExtensions } from '../archive/store/codec.js';
import { compactTimestamp } from '../util/time.js';

/**
 * Base backups in the archive (docs/backups.md), beside the WAL under the same root:
 *
 *     <prefix>basebackups/<id>/base.tar.00000.lz4      parts of pg_basebackup's tar stream, in order
 *     <prefix>basebackups/<id>/16385.tar.00000.lz4     parts of a tablespace's tar (by its OID), if any
 *     <prefix>basebackups/<id>/backup_manifest         pg_basebackup's manifest (plain JSON)
 *     <prefix>basebackups/<id>/backup.json             what pgfollower knows; written last
 *
 * A backup without backup.json is incomplete (being taken, or abandoned) and is never restored.
 * Ids are the UTC start time (20261202T004500Z), so key order is age order.
 */
export const BACKUP_ROOT = 'basebackups/';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupPart {
  key: string;
  /** Bytes of the tar stream in this part (before compression). */
  rawBytes: number;
  /** Bytes handed to the store. */
  storedBytes: number;
  /** SHA-256 of the bytes handed to the store, checked before decoding. */
  sha256: string;
}

export interface WalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

/** A user tablespace of the backup: its own tar (pg_basebackup's `<oid>.tar`), stored in parts. */
export interface BackupTablespace {
  oid: number;
  name: string;
  /** pg_tablespace_location() on the source: where restore puts it unless mapped elsewhere. */
  location: string;
  /** The tar's name in the backup ("16385.tar"); its parts are keyed `<part>.NNNNN<ext>`. */
  part: string;
  rawBytes: number;
  storedBytes: number;
  files: number;
  parts: BackupPart[];
}

/** The contents of backup.json. */
export interface BackupDescriptor {
  formatVersion: number;
  id: string;
  systemIdentifier: string;
  /** Timeline the backup started on (backup_label START TIMELINE). */
  timeline: number;
  startLsn: string;
  endLsn: string;
  /** Timeline of the end LSN (the last WAL range). */
  endTimeline: number;
  /** WAL segment files (names) that must be restored with the backup: start to end. */
  walFiles: string[];
  walSegmentSize: number;
  /** Where the copy was taken: 'standby' (a follower) or 'primary' (backup_label BACKUP FROM). */
  backupFrom: string;
  source: 'local' | 'leader';
  pgVersionNum: number;
  codec: CodecName;
  startedAt: string;
  finishedAt: string;
  /** pg_basebackup's stream, from start to last part stored. */
  copyMs: number;
  /** Waiting for the end of WAL to be archived. */
  walWaitMs: number;
  /** Tar bytes of every tar, the tablespaces' included (≈ the data directory and tablespaces). */
  rawBytes: number;
  storedBytes: number;
  /** Parts of the main data directory's tar (base.tar). */
  parts: BackupPart[];
  /**
   * User tablespaces, each its own tar. Absent in backups taken before tablespace support (and in
   * any backup of a cluster without user tablespaces written by them): read as none.
   */
  tablespaces?: BackupTablespace[];
  manifestKey: string;
  manifestSha256: string;
  /** Data files in the tar (not directories). */
  files: number;
  /** Node that took it. */
  node: string | undefined;
}

export function backupDir(id: string): string {
  return `${BACKUP_ROOT}${id}/`;
}

export function descriptorKey(id: string): string {
  return `${backupDir(id)}backup.json`;
}

export function manifestKey(id: string): string {
  return `${backupDir(id)}backup_manifest`;
}

/** Key of part `index` of tar `tar` ("base.tar", "16385.tar"). */
export function partKey(id: string, index: number, codec: CodecName, tar = 'base.tar'): string {
  return `${backupDir(id)}${tar}.${String(index).padStart(5, '0')}${codecExtensions[codec]}`;
}

/** The tablespaces of a backup (none for a backup written before they were supported). */
export function tablespacesOf(backup: Pick<BackupDescriptor, 'tablespaces'>): BackupTablespace[] {
  return backup.tablespaces ?? [];
}

const ID_RE = /^\d{8}T\d{6}Z$/;

function isBackupId(value: string): boolean {
  return ID_RE.test(value);
}

export function newBackupId(now: number): string {
  return compactTimestamp(now);
}

/** The backup id a key belongs to (any key under basebackups/<id>), if any. */
export function backupIdOfKey(key: string): string | undefined {
  if (!key.startsWith(BACKUP_ROOT)) return undefined;
  const id = key.slice(BACKUP_ROOT.length).split('/')[0] ?? '';
  return isBackupId(id) ? id : undefined;
}
