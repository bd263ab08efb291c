import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE } from '../../../src/config/load.js';
import { parseUnit } from '../../../src/doctor/doctor.js';

describe('doctor reads systemd units', () => {
  it('finds User, ExecStart, the config file and the writable paths of the shipped unit', () => {
    const text = readFileSync(resolve(import.meta.dirname, '../../../systemd/pgfollower.service'), 'utf8');
    expect(parseUnit(text)).toEqual({
      user: 'postgres',
      execStart: '/usr/bin/pgfollower',
      configFile: DEFAULT_CONFIG_FILE,
      readWritePaths: ['/var/lib/postgresql', '/var/run/postgresql', '/var/lib/pgfollower'],
      protectSystemStrict: true,
    });
  });

  it('defaults User to root and strips ExecStart prefixes', () => {
    expect(
      parseUnit('[Service]\nExecStart=-/opt/x/pgfollower run\nEnvironment="PGFOLLOWER_CONFIG=/c.yaml" X=1\n'),
    ).toMatchObject({ user: 'root', execStart: '/opt/x/pgfollower', configFile: '/c.yaml' });
  });
});
