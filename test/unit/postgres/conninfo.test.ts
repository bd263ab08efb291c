import { describe, expect, it } from 'vitest';
import {
  describeConninfo,
  formatConninfo,
  maskConninfo,
  parseConninfo,
  toClientConfig,
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
      ssl: true,
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
});
