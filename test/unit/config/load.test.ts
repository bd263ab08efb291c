import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';

function file(text: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-cfg-'));
  const path = join(dir, 'c.yaml');
  writeFileSync(path, text, { mode });
  return path;
}

describe('loadConfig', () => {
  it('fills defaults and derives the slot name', () => {
    const config = loadConfig({ file: file('node: { name: Replica-A, dataDirectory: /d }\n'), env: {} });
    expect(config.node.port).toBe(5432);
    expect(config.slot.name).toBe('replica_a');
    expect(config.http.listen).toBe('127.0.0.1:8008');
    expect(config.monitor.catchingUpBytes).toBe(16 * 1024 * 1024);
    expect(Object.isFrozen(config.node)).toBe(true);
  });

  it('lists every problem at once with its key path', () => {
    const path = file(
      'node: { port: "x", nmae: a }\nmonitor: { intervalMs: soon }\nleader: { conninfo: 3 }\n',
    );
    let error: unknown;
    try {
      loadConfig({ file: path, env: {}, require: ['node.dataDirectory'] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const keys = (error as ConfigError).problems.map((p) => p.key).sort();
    expect(keys).toEqual([
      'leader.conninfo',
      'monitor.intervalMs',
      'node.dataDirectory',
      'node.nmae',
      'node.port',
    ]);
    expect((error as ConfigError).exitCode).toBe(2);
  });

  it('takes lag seconds with units and refuses a warning threshold above the critical one', () => {
    const config = loadConfig({
      file: file('monitor: { warnLagSeconds: 90s, critLagSeconds: 5m }\n'),
      env: {},
    });
    expect(config.monitor.warnLagSeconds).toBe(90);
    expect(config.monitor.critLagSeconds).toBe(300);
    let error: unknown;
    try {
      loadConfig({ file: file('monitor: { warnLagSeconds: 1000, warnLagBytes: 2GB }\n'), env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.key).sort()).toEqual([
      'monitor.warnLagBytes',
      'monitor.warnLagSeconds',
    ]);
    expect((error as ConfigError).message).toMatch(/1000s is above the critical 300s/);
  });

  it('reports required keys for the command when the file is otherwise valid', () => {
    expect(() => loadConfig({ env: {}, require: ['node.name', 'leader.conninfo'] })).toThrow(
      /node.name[\s\S]*leader.conninfo/,
    );
  });

  it('applies flag > environment > file precedence', () => {
    const path = file('node: { name: a, dataDirectory: /from-file }\n');
    expect(loadConfig({ file: path, env: { PGDATA: '/pgdata' } }).node.dataDirectory).toBe('/from-file');
    expect(loadConfig({ file: path, env: { PGFOLLOWER_DATA_DIRECTORY: '/env' } }).node.dataDirectory).toBe(
      '/env',
    );
    expect(
      loadConfig({
        file: path,
        env: { PGFOLLOWER_DATA_DIRECTORY: '/env' },
        overrides: { node: { dataDirectory: '/flag' } },
      }).node.dataDirectory,
    ).toBe('/flag');
  });

  it('parses sizes and durations with units', () => {
    const config = loadConfig({ file: file('monitor: { intervalMs: 2s, catchingUpBytes: 1GB }\n'), env: {} });
    expect(config.monitor.intervalMs).toBe(2000);
    expect(config.monitor.catchingUpBytes).toBe(1024 ** 3);
  });

  it('refuses a world-readable file that holds a password', () => {
    const path = file('leader: { conninfo: "host=a password=hunter2" }\n', 0o644);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(/world-readable[\s\S]*chmod 600/);
  });

  it('names a missing file', () => {
    expect(() => loadConfig({ file: '/nonexistent/pgf.yaml', env: {} })).toThrow(
      /cannot read \/nonexistent\/pgf.yaml/,
    );
  });
});
