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
        "{ timeout --foreground -k 5 65 '/usr/bin/node' '/opt/bin.js' --config '/etc/pgf.yaml' wal-fetch %f %p || exit 1; }",
    );
  });
  it('skips the spool when prefetch is 0', () => {
    const config = loadConfig({ overrides: { ...base, archive: { ...base.archive, prefetch: 0 } }, env: {} });
    expect(restoreCommandFor(config)).toBe(
      "{ timeout --foreground -k 5 65 '/usr/bin/node' '/opt/bin.js' wal-fetch %f %p || exit 1; }",
    );
  });
  it('quotes for sh and escapes % for PostgreSQL', () => {
    expect(shellQuote("/x/it's 100%")).toBe("'/x/it'\\''s 100%%'");
  });
});
