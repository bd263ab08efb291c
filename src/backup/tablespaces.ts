import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { UsageError, type CheckResult } from '../errors.js';
import { tablespacesOf, type BackupDescriptor, type BackupTablespace } from './layout.js';

/**
 * Tablespaces at restore: where each one of a backup goes (its original location, or where a
 * `--tablespace-mapping OLD=NEW` sends it, as pg_basebackup's option does), the checks that the
 * targets are absent or empty, and the `tablespace_map` file PostgreSQL reads at the start of
 * recovery to (re)create the `pg_tblspc/<oid>` links.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-LOWLEVEL-BASE-BACKUP
 */
export type TablespaceMapping = ReadonlyMap<string, string>;

/** `OLD=NEW` pairs (an `=` inside a path written `\=`); both absolute; each OLD once. */
export function parseTablespaceMapping(values: readonly string[] | undefined): TablespaceMapping {
  const mapping = new Map<string, string>();
  for (const value of values ?? []) {
    const at = /(?<!\\)=/.exec(value)?.index;
    const unescape = (s: string): string => normalize(s.replaceAll('\\=', '='));
    if (at === undefined || at === 0 || at === value.length - 1) {
      throw new UsageError(`--tablespace-mapping "${value}" is not OLD=NEW`, {
        hint: 'e.g. --tablespace-mapping /srv/ts1=/srv/ts1-restored (write an = inside a path as \\=)',
      });
    }
    const from = unescape(value.slice(0, at));
    const to = unescape(value.slice(at + 1));
    if (!isAbsolute(from) || !isAbsolute(to)) {
      throw new UsageError(`--tablespace-mapping "${value}": both directories must be absolute paths`);
    }
    if (mapping.has(from)) throw new UsageError(`--tablespace-mapping names ${from} twice`);
    mapping.set(from, to);
  }
  return mapping;
}

/** The same mapping as pg_basebackup arguments (bootstrap from the leader). */
export function tablespaceMappingArgs(mapping: TablespaceMapping): string[] {
  const esc = (s: string): string => s.replaceAll('=', '\\=');
  return [...mapping].map(([from, to]) => `--tablespace-mapping=${esc(from)}=${esc(to)}`);
}

export interface TablespaceTarget {
  tablespace: BackupTablespace;
  /** Where its files go: the mapped directory, else the original location. */
  target: string;
  /** The target did not exist before the restore (so a failed restore removes it again). */
  created: boolean;
}

/** Where each tablespace of the backup is restored; refuses a mapping that names no tablespace. */
export function tablespaceTargets(
  backup: Pick<BackupDescriptor, 'id' | 'tablespaces'>,
  mapping: TablespaceMapping,
  place?: (t: BackupTablespace) => string,
): TablespaceTarget[] {
  const tablespaces = tablespacesOf(backup);
  for (const from of mapping.keys()) {
    if (!tablespaces.some((t) => normalize(t.location) === from)) {
      throw new UsageError(
        `--tablespace-mapping ${from}=...: backup ${backup.id} has no tablespace at ${from}`,
        {
          hint:
            tablespaces.length > 0
              ? `its tablespaces: ${tablespaces.map((t) => `${t.name} (${t.location})`).join(', ')}`
              : 'this backup has no user tablespace: drop the option',
        },
      );
    }
  }
  return tablespaces.map((tablespace) => {
    const target = place?.(tablespace) ?? mapping.get(normalize(tablespace.location)) ?? tablespace.location;
    return { tablespace, target, created: !existsSync(target) };
  });
}

/**
 * One check per tablespace: its target must be absent or an empty directory (as pg_basebackup
 * demands), and no two tablespaces nor the data directory may share it.
 */
export function checkTablespaceTargets(
  targets: readonly TablespaceTarget[],
  dataDirectory: string,
): CheckResult[] {
  return targets.map(({ tablespace: t, target }) => {
    const named = `tablespace ${t.name} (OID ${t.oid})`;
    const mapped = target === t.location ? '' : ` (mapped from ${t.location})`;
    let problem: string | undefined;
    if (targets.filter((o) => o.target === target).length > 1)
      problem = `${target} is the target of another tablespace too`;
    else if (normalize(target) === normalize(dataDirectory)) problem = `${target} is the data directory`;
    else if (normalize(target).startsWith(`${normalize(dataDirectory)}/`))
      problem = `${target} is inside the data directory (a tablespace there breaks moving the directory aside)`;
    else if (existsSync(target)) {
      if (!statSync(target).isDirectory()) problem = `${target} exists and is not a directory`;
      else if (readdirSync(target).length > 0) problem = `${target} is not empty`;
    }
    return {
      name: named,
      ok: problem === undefined,
      detail:
        problem === undefined
          ? `restored into ${target}${mapped}, ${existsSync(target) ? 'an empty directory' : 'created'}`
          : `${problem}${mapped}: nothing is written there; map it to an absent or empty directory with --tablespace-mapping ${t.location}=NEW_DIRECTORY`,
      numbers: { oid: t.oid, bytes: t.rawBytes },
    };
  });
}

/**
 * pg_basebackup's tablespace_map: "<oid> <path>" per line, a newline, carriage return or
 * backslash in the path preceded by a backslash (PostgreSQL's do_pg_backup_start / read_tablespace_map).
 */
export function parseTablespaceMap(text: string): Map<number, string> {
  const out = new Map<number, string>();
  let line = '';
  const lines: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      line += text[++i];
    } else if (c === '\n') {
      lines.push(line);
      line = '';
    } else line += c;
  }
  if (line) lines.push(line);
  for (const l of lines) {
    const space = l.indexOf(' ');
    if (space > 0) out.set(Number(l.slice(0, space)), l.slice(space + 1));
  }
  return out;
}

export function formatTablespaceMap(entries: ReadonlyArray<{ oid: number; location: string }>): string {
  return entries.map((e) => `${e.oid} ${e.location.replace(/[\\\n\r]/g, (c) => `\\${c}`)}\n`).join('');
}

/**
 * Undoes a restore that failed before its directory was put in place: a target the restore
 * created is removed, one that was empty is emptied again. Only targets checked absent or empty
 * before the restore reach here, so nothing but the restore's own files is removed.
 */
export async function removeRestoredTablespaces(targets: readonly TablespaceTarget[]): Promise<void> {
  for (const { target, created } of targets) {
    if (!existsSync(target)) continue;
    if (created) await rm(target, { recursive: true, force: true });
    else
      for (const entry of readdirSync(target))
        await rm(join(target, entry), { recursive: true, force: true });
  }
}
