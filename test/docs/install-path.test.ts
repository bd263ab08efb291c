import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, resolveConfigFile } from '../../src/config/load.js';

const root = resolve(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => pattern.test(f))
    .map((f) => join(dir, f));
}

/** One install path: npm into /usr, config in /etc/pgfollower/, and every text that says so agrees. */
describe('the documented install path', () => {
  it('the systemd units run /usr/bin/pgfollower with the default config file', () => {
    for (const unit of filesUnder('systemd', /\.service$/)) {
      const text = read(unit);
      expect(text, unit).toMatch(/^ExecStart=\/usr\/bin\/pgfollower /m);
      expect(text, unit).toContain(`Environment=PGFOLLOWER_CONFIG=${DEFAULT_CONFIG_FILE}`);
    }
  });

  it('the README installs with npm into /usr, where the units look', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm install --global --prefix /usr');
    expect(readme).toContain(DEFAULT_CONFIG_FILE);
    expect(readme).not.toMatch(/npm link/);
  });

  it('no document, unit or message names another config path', () => {
    const texts = [
      'README.md',
      ...filesUnder('docs', /\.(md|ya?ml|cfg)$/),
      ...filesUnder('systemd', /\.service$/),
      ...filesUnder('src', /\.ts$/),
    ];
    const stale = texts.filter((f) => /\/etc\/pgfollower\.ya?ml|\/opt\/pgfollower/.test(read(f)));
    expect(stale).toEqual([]);
  });

  it('commands read --config, else PGFOLLOWER_CONFIG, else the default file when present', () => {
    const present = () => true;
    const absent = () => false;
    expect(resolveConfigFile('/x.yaml', { PGFOLLOWER_CONFIG: '/y.yaml' }, present)).toBe('/x.yaml');
    expect(resolveConfigFile(undefined, { PGFOLLOWER_CONFIG: '/y.yaml' }, present)).toBe('/y.yaml');
    expect(resolveConfigFile(undefined, {}, present)).toBe(DEFAULT_CONFIG_FILE);
    expect(resolveConfigFile(undefined, {}, absent)).toBeUndefined();
  });
});
