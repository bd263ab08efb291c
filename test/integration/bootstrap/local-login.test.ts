import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
} from '../../helpers/cluster.js';

// Issue 14 defect 5: pg_hba wanted scram for local connections and pgfollower had no password for
// the follower port. The follower already streamed, yet bootstrap retried 120 s, stopped it, moved
// it to .failed-*, dropped the slot and blamed primary_conninfo, quoting "SASL: client password must
// be a string". Now: named within seconds, and a streaming follower is kept.
describe('bootstrap when pgfollower cannot log in to the new local server', () => {
  it('says so within seconds (port, role, pg_hba/.pgpass) and keeps the streaming follower and its slot', async () => {
    const leader = await createLeader({ start: false });
    // Local (socket) logins need a password; replication and TCP stay trusted. The copy inherits it.
    const hba = join(leader.dataDirectory, 'pg_hba.conf');
    writeFileSync(hba, `local all all scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await leader.start();
    await leader.query("ALTER ROLE postgres PASSWORD 'only-in-the-test'");
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader);
    const file = await writeConfigFile(dirname(dataDirectory), config);
    trackDataDirectory(dataDirectory);

    const output = createMemoryOutput();
    const started = Date.now();
    const code = await main(['--config', file, 'bootstrap', '--yes'], { output, env: {} });
    const seconds = (Date.now() - started) / 1000;
    const text = output.text();
    expect(code, text).toBe(1);
    expect(text).toMatch(
      /pgfollower cannot log in to the local server \(socket \S+ port \d+\) as role postgres/,
    );
    expect(text).toMatch(/pg_hba\.conf/);
    expect(text).toMatch(/\.pgpass/);
    expect(text).toMatch(/the follower itself streams and is kept/);
    expect(text).not.toMatch(/check primary_conninfo/);
    // Not the 120 s streaming timeout.
    expect(seconds).toBeLessThan(60);

    // Kept: in place, running, streaming, slot there and active.
    expect(existsSync(join(dataDirectory, 'PG_VERSION'))).toBe(true);
    expect(
      readdirSync(dirname(dataDirectory)).filter((e) => e.startsWith(`${basename(dataDirectory)}.failed-`)),
    ).toEqual([]);
    const [slot] = await leader.query<{ active: boolean }>(
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_a'",
    );
    expect(slot?.active).toBe(true);
    const [replication] = await leader.query<{ state: string }>(
      "SELECT state FROM pg_stat_replication WHERE application_name = 'replica-a'",
    );
    expect(replication?.state).toBe('streaming');

    const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
    await follower.stop();
    await leader.stop();
  });
});
