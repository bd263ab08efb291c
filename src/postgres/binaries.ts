import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PgFollowerError, ExitCode } from '../errors.js';
import { loadExeca } from '../exec/run.js';

export type PgProgram =
  | 'initdb'
  | 'pg_ctl'
  | 'postgres'
  | 'pg_basebackup'
  | 'pg_rewind'
  | 'pg_controldata'
  | 'pgbench'
  | 'psql'
  | 'pg_waldump'
  | 'pg_archivecleanup'
  | 'pg_verifybackup';

export interface PgBinaries {
  binDir: string;
  /** Major version of the programs in binDir, e.g. 15. */
  major: number;
  path(program: PgProgram): string;
}

/**
 * Finds PostgreSQL's server programs: node.binDir, else `pg_config --bindir`, else Debian's
 * /usr/lib/postgresql/<major>/bin (the requested major if given, else the newest), else PATH.
 */
export async function findPgBinaries(
  options: { binDir?: string | undefined; major?: number | undefined } = {},
): Promise<PgBinaries> {
  const { execa } = await loadExeca();
  const candidates: string[] = [];
  if (options.binDir) candidates.push(options.binDir);
  else {
    const debianRoot = '/usr/lib/postgresql';
    if (existsSync(debianRoot)) {
      const majors = readdirSync(debianRoot)
        .map(Number)
        .filter((n) => Number.isInteger(n) && existsSync(join(debianRoot, String(n), 'bin', 'pg_ctl')))
        .sort((a, b) => b - a);
      const ordered =
        options.major !== undefined ? [options.major, ...majors.filter((m) => m !== options.major)] : majors;
      for (const m of ordered) candidates.push(join(debianRoot, String(m), 'bin'));
    }
    const fromPgConfig = await execa('pg_config', ['--bindir'], { reject: false });
    if (fromPgConfig.exitCode === 0) candidates.push(String(fromPgConfig.stdout).trim());
    for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(dir);
  }
  for (const dir of candidates) {
    if (!existsSync(join(dir, 'pg_ctl')) || !existsSync(join(dir, 'postgres'))) continue;
    const version = await execa(join(dir, 'postgres'), ['--version'], { reject: false });
    const match = /(\d+)(?:\.\d+)?/.exec(String(version.stdout));
    if (version.exitCode !== 0 || !match) continue;
    const major = Number(match[1]);
    return { binDir: dir, major, path: (program) => join(dir, program) };
  }
  throw new PgFollowerError(
    'PG_BINARIES_NOT_FOUND',
    `PostgreSQL server programs (pg_ctl, postgres) not found${options.binDir ? ` in ${options.binDir}` : ''}`,
    ExitCode.USAGE,
    { hint: 'install the PostgreSQL server package (apt-get install postgresql) or set node.binDir' },
  );
}
