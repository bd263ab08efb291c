import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreCommandFor } from '../../../../src/archive/follower/restore-command.js';
import { shellQuote } from '../../../../src/util/shell.js';
import { loadConfig } from '../../../../src/config/index.js';

describe('restore_command', () => {
  const base = {
    node: { dataDirectory: '/data/x' },
    archive: { type: 'fs', fs: { path: '/a' }, command: "'/usr/bin/node' '/opt/bin.js'" },
  };
  it('is undefined without an archive', () => {
    expect(restoreCommandFor(loadConfig({ overrides: {}, env: {} }))).toBeUndefined();
  });
  it('moves from the spool and falls back to wal-fetch', () => {
    const config = loadConfig({ overrides: base, env: {} });
    expect(restoreCommandFor(config, { configFile: '/etc/pgf.yaml' })).toBe(
      "mv -f '/data/x/pg_wal/.pgfollower-spool/'%f %p 2>/dev/null || " +
        "{ n=0; while [ -e '/data/x/pg_wal/.pgfollower-spool/'%f.inflight ] && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done; mv -f '/data/x/pg_wal/.pgfollower-spool/'%f %p 2>/dev/null; } || " +
        `{ [ -n "$(find '/data/x/pg_wal/.pgfollower-spool/'%f.missing -mmin -0.1 2>/dev/null)" ] && exit 1; } || ` +
        `{ timeout --foreground -k 5 65 /bin/sh -c ''\\''/usr/bin/node'\\'' '\\''/opt/bin.js'\\'' --config '\\''/etc/pgf.yaml'\\'' wal-fetch "$1" "$2"' wal-fetch %f %p || exit 1; }`,
    );
  });
  it('skips the spool when prefetch is 0', () => {
    const config = loadConfig({ overrides: { ...base, archive: { ...base.archive, prefetch: 0 } }, env: {} });
    expect(restoreCommandFor(config)).toBe(
      `{ timeout --foreground -k 5 65 /bin/sh -c ''\\''/usr/bin/node'\\'' '\\''/opt/bin.js'\\'' wal-fetch "$1" "$2"' wal-fetch %f %p || exit 1; }`,
    );
  });
  it('runs a command that begins with variable assignments, with quotes and % in the paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), "pgf-rc-it's 100%-"));
    const fake = join(dir, 'fake.sh');
    await writeFile(fake, '#!/bin/sh\nprintf "%s|%s\\n" "$FOO" "$*" > "$(dirname "$0")/ran"\n');
    await chmod(fake, 0o755);
    const config = loadConfig({
      overrides: {
        ...base,
        archive: { ...base.archive, prefetch: 0, command: `FOO=from-env ${shellQuote(fake)}` },
      },
      env: {},
    });
    const generated = restoreCommandFor(config, { configFile: join(dir, "pgf'%.yaml") }) as string;
    // What PostgreSQL does to restore_command before running it with sh -c.
    const command = generated.replace(/%(%|f|p)/g, (_m, c: string) =>
      c === 'f' ? 'NAME' : c === 'p' ? 'pg_wal/RECOVERYXLOG' : '%',
    );
    execFileSync('/bin/sh', ['-c', command]);
    const ran = await readFile(join(dir, 'ran'), 'utf8');
    expect(ran).toBe(`from-env|--config ${join(dir, "pgf'%.yaml")} wal-fetch NAME pg_wal/RECOVERYXLOG\n`);
  });
  it('quotes for sh and escapes % for PostgreSQL', () => {
    expect(shellQuote("/x/it's 100%")).toBe("'/x/it'\\''s 100%%'");
  });
});
