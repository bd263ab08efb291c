import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shippedProgram } from '../../../src/exec/self.js';
import { makeTempDir } from '../../helpers/cluster.js';

const unitPath = resolve(import.meta.dirname, '../../../systemd/pgfollower.service');

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = hasSystemdAnalyze();
if (!available)
  console.warn('skipping systemd unit verification: systemd-analyze is not installed (.ci/run installs it)');

describe('systemd/pgfollower.service', () => {
  it('has what the notify protocol and hardening need', () => {
    const unit = readFileSync(unitPath, 'utf8');
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'User=postgres',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'Restart=on-failure',
      'ExecReload=/bin/kill -HUP $MAINPID',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).toMatch(/^WatchdogSec=\d+s$/m);
    expect(unit).toMatch(/^Environment=PGFOLLOWER_CONFIG=\S+$/m);
    expect(unit).toMatch(/^ReadWritePaths=.*\/var\/lib\/postgresql/m);
    // pgfollower's own stop deadline (20 s) must fit inside systemd's.
    const stopSec = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1]);
    expect(stopSec).toBeGreaterThan(20);
  });

  it.skipIf(!available)('passes systemd-analyze verify', async () => {
    // verify insists that ExecStart exists: point it at this machine's node and the built CLI.
    const dir = await makeTempDir('pgf-unit-');
    const copy = join(dir, 'pgfollower.service');
    const unit = readFileSync(unitPath, 'utf8').replace(
      /^ExecStart=\/usr\/bin\/pgfollower /m,
      `ExecStart=${process.execPath} ${shippedProgram()} `,
    );
    expect(unit).toContain(`ExecStart=${process.execPath} `);
    writeFileSync(copy, unit);
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    // Complaints about other units on this machine are not ours; any line naming our file is.
    const ours = `${result.stdout}\n${result.stderr}`
      .split('\n')
      .filter((l) => l.includes('pgfollower.service'));
    expect(ours).toEqual([]);
    expect(result.status).toBe(0);
  });
});

describe('systemd/pgfollower-archiver.service', () => {
  const archiverPath = resolve(import.meta.dirname, '../../../systemd/pgfollower-archiver.service');

  it.skipIf(!available)('runs archive push-ahead as postgres and passes systemd-analyze verify', async () => {
    const unit = readFileSync(archiverPath, 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/pgfollower archive push-ahead$/m);
    expect(unit.split('\n')).toContain('User=postgres');
    const dir = await makeTempDir('pgf-unit-');
    const copy = join(dir, 'pgfollower-archiver.service');
    writeFileSync(
      copy,
      unit.replace(
        /^ExecStart=\/usr\/bin\/pgfollower /m,
        `ExecStart=${process.execPath} ${shippedProgram()} `,
      ),
    );
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    const ours = `${result.stdout}\n${result.stderr}`
      .split('\n')
      .filter((l) => l.includes('pgfollower-archiver.service'));
    expect(ours).toEqual([]);
    expect(result.status).toBe(0);
  });
});
