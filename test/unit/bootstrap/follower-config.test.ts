import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFollowerConfig } from '../../../src/bootstrap/follower-config.js';
import { type Context } from '../../../src/context.js';
import { configureRewoundStandby } from '../../../src/failover/rebuild/execute.js';
import { parseConninfo } from '../../../src/postgres/conninfo.js';
import { isStandbyDirectory, readAutoConf } from '../../../src/postgres/standby-config.js';
import { unitContext } from '../../helpers/context.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function contextFor(leader: string): Context {
  return unitContext({
    node: { name: 'replica-a', port: 5433, host: '/run/pg' },
    leader: { conninfo: leader },
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-follower-config-'));
  dirs.push(dir);
  return dir;
}

/** What a clone (bootstrap, also rebuild --clone) and a rewind (rebuild) leave in the directory. */
async function writeBoth(
  leader: string,
): Promise<{ clone: Map<string, string>; rewind: Map<string, string> }> {
  const ctx = contextFor(leader);
  const cloned = tempDir();
  const rewound = tempDir();
  await writeFollowerConfig(ctx, cloned, leader, { restoreCommand: 'pgfollower wal-fetch %f %p' });
  await configureRewoundStandby(
    ctx,
    { dataDirectory: rewound, leaderConninfo: leader },
    'pgfollower wal-fetch %f %p',
  );
  expect(isStandbyDirectory(cloned) && isStandbyDirectory(rewound)).toBe(true);
  return { clone: readAutoConf(cloned), rewind: readAutoConf(rewound) };
}

describe('follower settings after a rebuild', () => {
  it('rewind and clone write the same primary_conninfo, naming the node', async () => {
    const { clone, rewind } = await writeBoth('host=db1 port=5432 user=rep');
    expect(rewind.get('primary_conninfo')).toBe(clone.get('primary_conninfo'));
    expect(parseConninfo(clone.get('primary_conninfo') ?? '').application_name).toBe('replica-a');
    expect(rewind).toEqual(clone);
  });

  it('rewind and clone both keep an application_name the operator set in leader.conninfo', async () => {
    const { clone, rewind } = await writeBoth('host=db1 user=rep application_name=dc2-standby');
    expect(rewind.get('primary_conninfo')).toBe(clone.get('primary_conninfo'));
    expect(parseConninfo(clone.get('primary_conninfo') ?? '').application_name).toBe('dc2-standby');
    expect(clone.get('unix_socket_directories')).toBe('/run/pg');
    expect(clone.get('port')).toBe('5433');
  });
});
