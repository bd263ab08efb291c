import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunAs } from '../exec/run.js';
import { formatConninfo, parseConninfo } from './conninfo.js';

/**
 * A conninfo for a child program's command line, with any password taken out and handed over in a
 * temporary passfile instead: a command line is world-readable (`ps`, /proc/<pid>/cmdline), a mode
 * 0600 file in a mode 0700 directory is not. `fn` gets the conninfo without the password and the
 * environment for the child (PGPASSFILE); the file is removed when `fn` settles.
 * https://www.postgresql.org/docs/current/libpq-pgpass.html
 */
export async function withPasswordFile<T>(
  conninfo: string,
  runAs: RunAs | undefined,
  fn: (safeConninfo: string, env: Record<string, string>) => Promise<T>,
): Promise<T> {
  const split = splitPassword(conninfo);
  if (split.password === undefined) return fn(conninfo, {});
  const dir = await mkdtemp(join(tmpdir(), 'pgfollower-pass-'));
  try {
    const file = join(dir, 'pgpass');
    // One wildcard line: the child makes connections to one server only (replication included).
    await writeFile(file, `*:*:*:*:${split.password.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`, {
      mode: 0o600,
    });
    if (runAs) {
      await chown(file, runAs.uid, runAs.gid);
      await chown(dir, runAs.uid, runAs.gid);
    }
    return await fn(split.conninfo, { PGPASSFILE: file });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The conninfo without its password (either form), and the password. */
export function splitPassword(conninfo: string): { conninfo: string; password?: string } {
  const trimmed = conninfo.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      return { conninfo };
    }
    const password =
      url.password !== ''
        ? decodeURIComponent(url.password)
        : (url.searchParams.get('password') ?? undefined);
    if (password === undefined) return { conninfo };
    url.password = '';
    url.searchParams.delete('password');
    return { conninfo: url.toString(), password };
  }
  let info: Record<string, string>;
  try {
    info = parseConninfo(trimmed);
  } catch {
    return { conninfo };
  }
  const { password, ...rest } = info;
  if (password === undefined) return { conninfo };
  return { conninfo: formatConninfo(rest), password };
}
