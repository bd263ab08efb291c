import { resolve } from 'node:path';
import { shellQuote, shellQuoteScript } from '../../util/shell.js';
import type { Config } from '../../config/schema.js';
import { selfCommand } from '../../exec/self.js';
import { spoolDirectoryFor } from './spool.js';

/** Seconds the Node fallback gets beyond archive.timeoutMs before TERM, and after TERM before KILL. */
const FALLBACK_GRACE_S = 5;

interface RestoreCommandOptions {
  /** The config file the fallback `wal-fetch` must read (absolute path recommended). */
  configFile?: string | undefined;
}

/**
 * The follower's restore_command, or undefined when no archive is configured.
 *
 * A POSIX sh one-liner: when the prefetcher has the segment in the spool, one `mv` (a rename on the
 * same filesystem) hands it to PostgreSQL without starting Node (about 0.1 s per call, which would
 * cap replay far below disk speed); otherwise it runs `pgfollower wal-fetch %f %p`, which fetches,
 * verifies and exits 0 or 1 (never above 125, which would stop recovery).
 *
 *     mv -f '/data/pg_wal/.pgfollower-spool/'%f %p 2>/dev/null ||
 *       { [ -n "$(find '/data/pg_wal/.pgfollower-spool/'%f.missing -mmin -0.1 2>/dev/null)" ] && exit 1; } ||
 *       { timeout --foreground -k 5 65 /bin/sh -c ''\''/usr/bin/node'\'' '\''/usr/lib/node_modules/pgfollower/dist/cli/pgfollower.js'\'' --config '\''/etc/pgfollower/pgfollower.yaml'\'' wal-fetch "$1" "$2"' wal-fetch %f %p || exit 1; }
 *
 * https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-RESTORE-COMMAND
 */
export function restoreCommandFor(
  config: Readonly<Config>,
  options: RestoreCommandOptions = {},
): string | undefined {
  if (config.archive.type === 'none') return undefined;
  const base = config.archive.command ?? selfCommand().map(shellQuote).join(' ');
  const configArg = options.configFile ? ` --config ${shellQuote(resolve(options.configFile))}` : '';
  // A hard bound on the Node fallback, whatever it is stuck in (a read on a hung NFS mount blocks a
  // thread that even process.exit waits for): coreutils timeout sends TERM at archive.timeoutMs plus
  // a grace period, then KILL; --foreground keeps wal-fetch in PostgreSQL's process group, so a
  // server shutdown's SIGTERM still reaches it. Any failure, a kill included, becomes status 1
  // ("not available"), never a status above 125 that would stop recovery.
  const limitS = Math.ceil(config.archive.timeoutMs / 1000) + FALLBACK_GRACE_S;
  // The command runs under `sh -c`: archive.command is shell text and may begin with variable
  // assignments (`AWS_PROFILE=wal /usr/bin/pgfollower`), which timeout alone would take for the
  // program's name. sh execs the last simple command, so the signals still reach wal-fetch.
  const script = shellQuoteScript(`${base}${configArg} wal-fetch "$1" "$2"`);
  const fallback = `{ timeout --foreground -k ${FALLBACK_GRACE_S} ${limitS} /bin/sh -c ${script} wal-fetch %f %p || exit 1; }`;
  const spool = config.archive.prefetch > 0 ? spoolDirectoryFor(config) : undefined;
  // A fresh `<name>.missing` marker (touched by the prefetcher in the last 6 s) means the archive
  // was just asked and lacks the file: answer 1 at once. GNU find's -mmin takes fractions.
  const dir = spool ? shellQuote(`${spool}/`) : '';
  // While the prefetcher is fetching the file (`<name>.inflight`), poll for it for up to ~5 s: a
  // 20 ms sleep is far cheaper than starting Node. GNU sleep takes fractions.
  const wait = `{ n=0; while [ -e ${dir}%f.inflight ] && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done; mv -f ${dir}%f %p 2>/dev/null; }`;
  const command = spool
    ? `mv -f ${dir}%f %p 2>/dev/null || ${wait} || { [ -n "$(find ${dir}%f.missing -mmin -0.1 2>/dev/null)" ] && exit 1; } || ${fallback}`
    : fallback;
  return command;
}
