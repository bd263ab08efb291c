import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/cluster.js';

const root = resolve(import.meta.dirname, '../../..');

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  bin: Record<string, string>;
  engines?: Record<string, string>;
  dependencies: Record<string, string>;
}

interface LockEntry {
  dev?: boolean;
  link?: boolean;
}

/**
 * What `npm pack` ships is what an operator installs: the tarball is installed with npm into a temp
 * prefix and its `pgfollower` is run. Offline: the dependencies come from npm's cache (filled by
 * `npm ci`) through a lockfile made from ours, so the test needs no registry.
 */
describe('the packed tarball', () => {
  it('holds what runs and nothing else; installed with npm, pgfollower --help works', async () => {
    const dir = await makeTempDir('pgf-pack-');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as PackageJson;
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (!info) throw new Error('npm pack printed no result');
    const files = info.files.map((f) => f.path);
    expect(files).toContain(pkg.bin.pgfollower);
    expect(files).toContain('systemd/pgfollower.service');
    expect(files).toContain('docs/examples/haproxy.cfg');
    expect(files.filter((f) => /^(test|bench|src)\//.test(f) || /\.(map|ts)$/.test(f))).toEqual([]);
    expect(files.length).toBeLessThan(250);

    // An app that depends on the tarball, with our lockfile's runtime entries.
    const app = join(dir, 'app');
    await mkdir(app);
    const tarball = `file:../${info.filename}`;
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: { pgfollower: tarball } },
      'node_modules/pgfollower': {
        version: pkg.version,
        resolved: tarball,
        license: pkg.license,
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        engines: pkg.engines,
      },
    };
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (key.startsWith('node_modules/') && !entry.dev && !entry.link) packages[key] = entry;
    }
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, dependencies: { pgfollower: tarball } }),
    );
    await writeFile(
      join(app, 'package-lock.json'),
      JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }),
    );
    await execa('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });

    const bin = join(app, 'node_modules', '.bin', 'pgfollower');
    const help = await execa(bin, ['--help'], { cwd: dir });
    expect(help.stdout).toMatch(/^Usage: pgfollower/);
    expect(help.stdout).toMatch(/doctor/);
    expect((await execa(bin, ['--version'], { cwd: dir })).stdout).toBe(pkg.version);
    // Lazily loaded command modules are in the tarball too.
    expect((await execa(bin, ['demo', '--help'], { cwd: dir })).stdout).toMatch(/Examples:/);
    expect((await execa(bin, ['completion', 'bash'], { cwd: dir })).stdout).toMatch(
      /complete -F _pgfollower/,
    );
  }, 240_000);
});
