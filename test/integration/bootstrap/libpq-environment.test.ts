import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { parseConninfo } from '../../../src/postgres/conninfo.js';
import {
  clusterHandle,
  createLeader,
  followerConfig,
  pgTools,
  trackDataDirectory,
  writeConfigFile,
} from '../../helpers/cluster.js';
import { waitFor } from '../../helpers/wait.js';

// Issue 14 defect 4: bootstrap with PGHOST/PGPORT and a conninfo without host/port wrote
// primary_conninfo without them; after a restart without those variables the follower was
// disconnected for good. It now writes what libpq resolved (never the password).
describe('bootstrap with the leader in PGHOST/PGPORT', () => {
  it('writes host and port into primary_conninfo; the follower streams again after a restart without them', async () => {
    const leader = await createLeader();
    const { config, dataDirectory, port, socketDirectory } = await followerConfig(leader, {
      leader: { conninfo: 'user=postgres dbname=postgres' },
    });
    const file = await writeConfigFile(dirname(dataDirectory), config);
    trackDataDirectory(dataDirectory);
    const saved = {
      PGHOST: process.env.PGHOST,
      PGPORT: process.env.PGPORT,
      PGPASSWORD: process.env.PGPASSWORD,
    };
    process.env.PGHOST = '127.0.0.1';
    process.env.PGPORT = String(leader.port);
    process.env.PGPASSWORD = 'not-needed-with-trust';
    const output = createMemoryOutput();
    let code: number;
    try {
      code = await main(['--config', file, 'bootstrap', '--yes'], { output, env: process.env });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(code, output.text()).toBe(0);
    const auto = readFileSync(join(dataDirectory, 'postgresql.auto.conf'), 'utf8');
    const line = /^primary_conninfo = '(.*)'$/m.exec(auto)?.[1] ?? '';
    const written = parseConninfo(line.replace(/''/g, "'").replace(/\\\\/g, '\\'));
    expect(written).toMatchObject({ host: '127.0.0.1', port: String(leader.port), user: 'postgres' });
    expect(auto).not.toMatch(/password|not-needed/);

    // A restart without the variables: still streaming.
    const follower = clusterHandle('follower', socketDirectory, dataDirectory, port, await pgTools());
    await follower.stop();
    await follower.start();
    await leader.query('CREATE TABLE after_restart AS SELECT 1 AS x');
    await waitFor('the follower to stream again and replay a new table', async () => {
      const rows = await follower
        .query<{ n: string }>("SELECT count(*)::text AS n FROM pg_class WHERE relname = 'after_restart'")
        .catch(() => []);
      return rows[0]?.n === '1' ? true : undefined;
    });
    const [receiver] = await follower.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
    expect(receiver?.status).toBe('streaming');
    await follower.stop();
    await leader.stop();
  });
});
