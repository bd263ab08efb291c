import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createMemoryOutput } from '../../src/cli/output.js';
import { splitPassword } from '../../src/postgres/passfile.js';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
} from '../helpers/cluster.js';

/**
 * Issue 15, defect 1: during bootstrap `ps` showed `pg_basebackup ... --dbname "host=...
 * password=S3cr3tPW"` to every local user. A password is passed to children through a temporary
 * 0600 passfile (PGPASSFILE in the child's environment), removed afterwards; the command line keeps
 * the conninfo without it. Same for pg_rewind.
 */
const password = 'S3cr3t:PW\\x';

describe('the leader password never appears on a command line', () => {
  it('bootstrap with a password in leader.conninfo: works, and ps never shows the password', async () => {
    const leader = await createLeader();
    await leader.query(`CREATE ROLE replicator LOGIN REPLICATION PASSWORD '${password.replace(/'/g, "''")}'`);
    await leader.query('GRANT pg_read_all_settings, pg_read_all_stats, pg_monitor TO replicator');
    const hba = join(leader.dataDirectory, 'pg_hba.conf');
    const original = await readFile(hba, 'utf8');
    await writeFile(
      hba,
      'host all replicator 127.0.0.1/32 scram-sha-256\nhost replication replicator 127.0.0.1/32 scram-sha-256\n' +
        original,
    );
    await leader.query('SELECT pg_reload_conf()');
    const conninfo = `host=127.0.0.1 port=${leader.port} user=replicator dbname=postgres password='${password.replace(/\\/g, '\\\\')}'`;
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader, {
      leader: { conninfo },
    });
    const file = await writeConfigFile(dirname(dataDirectory), config);
    trackDataDirectory(dataDirectory);
    const passDirsBefore = (await readdir(tmpdir())).filter((n) => n.startsWith('pgfollower-pass-'));

    // Sample every process's command line while bootstrap runs.
    const seen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { stdout } = await promisify(execFile)('ps', ['-eo', 'args', '--no-headers']);
        for (const line of stdout.split('\n')) if (/pg_basebackup|pg_rewind|psql/.test(line)) seen.push(line);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const output = createMemoryOutput();
    const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
    let code: number;
    try {
      code = await main(['--config', file, 'bootstrap', '--yes'], { output, env: {} });
    } finally {
      sampling = false;
      await sampler;
      if (await follower.isRunning()) await follower.stop();
      await leader.stop();
    }
    expect(code, output.text()).toBe(0);
    expect(
      seen.some((l) => l.includes('pg_basebackup')),
      'ps saw pg_basebackup run',
    ).toBe(true);
    expect(seen.filter((l) => l.includes('S3cr3t'))).toEqual([]);
    expect(output.text()).not.toContain('S3cr3t');
    // The passfile is gone.
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('pgfollower-pass-'))).toEqual(passDirsBefore);
  });

  it('takes the password out of both conninfo forms', () => {
    expect(splitPassword("host=a user=r password='p w' dbname=x")).toEqual({
      conninfo: 'host=a user=r dbname=x',
      password: 'p w',
    });
    expect(splitPassword('postgresql://r:p%40ss@a:5432/x?sslmode=require')).toEqual({
      conninfo: 'postgresql://r@a:5432/x?sslmode=require',
      password: 'p@ss',
    });
    expect(splitPassword('postgresql://r@a/x?password=q')).toEqual({
      conninfo: 'postgresql://r@a/x',
      password: 'q',
    });
    expect(splitPassword('host=a user=r')).toEqual({ conninfo: 'host=a user=r' });
  });
});
