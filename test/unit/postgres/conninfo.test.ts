import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeConninfo,
  formatConninfo,
  maskConninfo,
  parseConninfo,
  toClientConfig,
  toSslConfig,
  resolveConninfo,
  withApplicationName,
} from '../../../src/postgres/conninfo.js';

describe('conninfo', () => {
  it('parses keyword/value with quotes and escapes', () => {
    expect(
      parseConninfo("host=10.0.0.1 port = 5433 user=rep password='it\\'s' application_name='a b'"),
    ).toEqual({
      host: '10.0.0.1',
      port: '5433',
      user: 'rep',
      password: "it's",
      application_name: 'a b',
    });
    expect(parseConninfo("password='a\\'b' dbname=x")).toEqual({ password: "a'b", dbname: 'x' });
  });

  it('parses URIs into libpq keywords', () => {
    expect(parseConninfo('postgresql://rep:secret@db1:5433/app?sslmode=require')).toMatchObject({
      user: 'rep',
      password: 'secret',
      host: 'db1',
      port: '5433',
      dbname: 'app',
      sslmode: 'require',
    });
  });

  it('round-trips through formatConninfo', () => {
    const info = { host: 'h', password: "p w'x", application_name: 'replica-a' };
    expect(parseConninfo(formatConninfo(info))).toEqual(info);
  });

  it('masks passwords in both forms', () => {
    expect(maskConninfo('host=a password=hunter2 user=b')).toBe('host=a password=******** user=b');
    expect(maskConninfo("host=a password='x y' user=b")).toBe('host=a password=******** user=b');
    expect(maskConninfo('postgresql://rep:hunter2@db1/app')).toBe('postgresql://rep:********@db1/app');
    expect(maskConninfo('host=a')).toBe('host=a');
  });

  it('rejects malformed strings', () => {
    expect(() => parseConninfo('host')).toThrow(/missing "="/);
    expect(() => parseConninfo("host='unterminated")).toThrow(/unterminated/);
  });

  it('maps to node-postgres options and describes the target without secrets', () => {
    expect(toClientConfig(parseConninfo('host=h port=6 user=u dbname=d sslmode=verify-full'))).toMatchObject({
      host: 'h',
      port: 6,
      user: 'u',
      database: 'd',
      // TLS verified against the system's CAs (no sslrootcert given).
      ssl: {},
    });
    expect(describeConninfo('host=h port=6 password=x')).toBe('h:6');
  });

  it('names the node in primary_conninfo unless the operator named the connection already', () => {
    expect(parseConninfo(withApplicationName('host=db1 user=rep', 'replica-a'))).toEqual({
      host: 'db1',
      user: 'rep',
      application_name: 'replica-a',
    });
    expect(
      parseConninfo(withApplicationName('host=db1 application_name=dc2-standby', 'replica-a'))
        .application_name,
    ).toBe('dc2-standby');
    expect(
      parseConninfo(withApplicationName('postgresql://rep@db1/app?application_name=mine', 'replica-a'))
        .application_name,
    ).toBe('mine');
    expect(withApplicationName('host=db1', undefined)).toBe('host=db1');
  });

  // Issue 14 defect 4: bootstrap with PGHOST/PGPORT and a conninfo without host/port wrote a
  // primary_conninfo without them: after a restart without those variables the follower was lost.
  it('resolves what libpq takes from the environment, never the password', () => {
    const env = {
      PGHOST: '10.0.0.1',
      PGPORT: '5433',
      PGUSER: 'rep',
      PGPASSWORD: 'hunter2',
      PGSSLMODE: 'require',
    };
    expect(resolveConninfo('dbname=postgres', env)).toEqual({
      dbname: 'postgres',
      host: '10.0.0.1',
      port: '5433',
      user: 'rep',
      sslmode: 'require',
    });
    // What the text says wins; a hostaddr stands for the host.
    expect(resolveConninfo('host=db1 port=6000', env)).toMatchObject({ host: 'db1', port: '6000' });
    expect(resolveConninfo('hostaddr=10.9.9.9', env)).not.toHaveProperty('host');
    expect(resolveConninfo('postgresql:///app', env)).toMatchObject({
      host: '10.0.0.1',
      port: '5433',
      dbname: 'app',
    });
    const written = withApplicationName('dbname=postgres', 'replica-a', env);
    expect(parseConninfo(written)).toMatchObject({
      host: '10.0.0.1',
      port: '5433',
      application_name: 'replica-a',
    });
    expect(written).not.toMatch(/hunter2|password/);
    expect(withApplicationName('dbname=postgres', 'replica-a', { PGAPPNAME: 'psql' })).toBe(
      'dbname=postgres application_name=replica-a',
    );
  });

  // Issue 14 defect 10: sslrootcert/sslcert/sslkey were dropped (and a URI's parsed ssl object), so
  // the monitor could not reach a leader that pg_basebackup reached.
  it('keeps TLS settings: CA, client certificate and key, with libpq semantics per sslmode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-tls-'));
    for (const f of ['ca.crt', 'client.crt', 'client.key']) writeFileSync(join(dir, f), `${f} contents`);
    const ca = join(dir, 'ca.crt');
    const full = toClientConfig(
      parseConninfo(
        `host=h sslmode=verify-full sslrootcert=${ca} sslcert=${join(dir, 'client.crt')} sslkey=${join(dir, 'client.key')}`,
      ),
      {},
      {},
    );
    expect(full.ssl).toMatchObject({
      ca: 'ca.crt contents',
      cert: 'client.crt contents',
      key: 'client.key contents',
    });
    expect(full.ssl).not.toHaveProperty('rejectUnauthorized', false);
    const uri = toClientConfig(
      parseConninfo(`postgresql://rep@h/app?sslmode=verify-ca&sslrootcert=${ca}`),
      {},
      {},
    );
    expect(uri.ssl).toMatchObject({ ca: 'ca.crt contents' });
    expect(toSslConfig({ sslmode: 'require' }, {})).toEqual({ rejectUnauthorized: false });
    expect(toSslConfig({ sslmode: 'prefer' }, {})).toBe(false);
    expect(toSslConfig({ sslmode: 'disable' }, {})).toBe(false);
    expect(toSslConfig({}, {})).toBeUndefined();
    // libpq's variables stand in for keywords the conninfo leaves out.
    expect(toSslConfig({}, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: ca })).toMatchObject({
      ca: 'ca.crt contents',
    });
  });
});
