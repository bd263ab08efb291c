import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../../src/postgres/client.js';
import { takeSnapshot } from '../../../src/monitor/monitor.js';
import { createLeader, makeTempDir, pgTools } from '../../helpers/cluster.js';
import { testContext } from '../../helpers/archive.js';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA made here, and a server certificate for 127.0.0.1 signed by it. */
function makeCertificates(dir: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=pgfollower test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ],
    dir,
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName = IP:127.0.0.1\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
}

// Issue 14 defect 10: the conninfo -> node-postgres mapping dropped sslrootcert/sslcert/sslkey, so
// the monitor could not reach a leader that pg_basebackup reached.
describe('a leader with ssl = on and a CA made in the test', () => {
  it('is reached over verified TLS by connect() and the monitor, with the conninfo pg_basebackup uses', async () => {
    const certs = await makeTempDir('pgf-tls-');
    makeCertificates(certs);
    const leader = await createLeader({ start: false });
    const tools = await pgTools();
    for (const f of ['server.crt', 'server.key']) {
      const target = join(leader.dataDirectory, f);
      copyFileSync(join(certs, f), target);
      chmodSync(target, 0o600);
      if (tools.exec.runAs) chownSync(target, tools.exec.runAs.uid, tools.exec.runAs.gid);
    }
    const { appendConf } = await import('../../../src/postgres/cluster.js');
    await appendConf(tools, join(leader.dataDirectory, 'postgresql.conf'), { ssl: 'on' });
    await leader.start();
    try {
      const conninfo = `host=127.0.0.1 port=${leader.port} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${join(certs, 'ca.crt')}`;
      // pg_basebackup's libpq reaches it with this conninfo (the reference).
      await tools.exec.run(tools.bin.path('psql'), ['-XAtc', 'select 1', conninfo]);

      const client = await connect(conninfo);
      try {
        const [row] = (
          await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
        ).rows;
        expect(row?.ssl).toBe(true);
      } finally {
        await client.end();
      }
      // The same in URI form.
      const uri = `postgresql://postgres@127.0.0.1:${leader.port}/postgres?sslmode=verify-ca&sslrootcert=${join(certs, 'ca.crt')}`;
      await (await connect(uri)).end();

      // The monitor's leader sample answers (the local server is the leader itself here: a primary).
      const ctx = await testContext({
        node: { name: 'replica-a', host: '127.0.0.1', port: leader.port, user: 'postgres' },
        leader: { conninfo },
        log: { level: 'silent' },
      });
      const snapshot = await takeSnapshot(ctx);
      expect(snapshot.leader.ok ? 'ok' : snapshot.leader.error).toBe('ok');

      // A CA that did not sign the server's certificate is refused: the CA is really used.
      const other = await makeTempDir('pgf-tls-other-');
      openssl(
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=other CA',
          '-keyout',
          'ca.key',
          '-out',
          'ca.crt',
        ],
        other,
      );
      await expect(
        connect(conninfo.replace(join(certs, 'ca.crt'), join(other, 'ca.crt')), { connectTimeoutMs: 5000 }),
      ).rejects.toThrow(/certificate/);
    } finally {
      await leader.stop();
    }
  });
});
