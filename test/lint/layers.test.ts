import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/cluster.js';

/**
 * The layer rule of docs/architecture.md, as `npm run lint` applies it: the project's own
 * .dependency-cruiser.cjs run by the real depcruise over a small tree laid out like src/.
 */
const root = resolve(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');

async function cruise(files: Record<string, string>): Promise<{ exitCode: number; output: string }> {
  const dir = await makeTempDir('pgf-layers-');
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext' } }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const result = await execa(depcruise, ['src', '--config', join(root, '.dependency-cruiser.cjs')], {
    cwd: dir,
    reject: false,
    all: true,
  });
  return { exitCode: result.exitCode ?? -1, output: result.all ?? '' };
}

describe('layer rule (npm run lint)', () => {
  it('passes imports that point down the layers', async () => {
    const result = await cruise({
      'src/postgres/lsn.ts': 'export const zero = 0n;\n',
      'src/monitor/lag.ts': "import { zero } from '../postgres/lsn.js';\nexport const lag = zero;\n",
    });
    expect(result.output).toContain('no dependency violations found');
    expect(result.exitCode).toBe(0);
  });

  it('fails a folder cycle, naming the back-arrow and the cycle', async () => {
    const result = await cruise({
      'src/postgres/lsn.ts':
        "import { lag } from '../monitor/lag.js';\nexport const zero = 0n;\nexport const l = lag;\n",
      'src/monitor/lag.ts': "import { zero } from '../postgres/lsn.js';\nexport const lag = zero;\n",
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain('layer-postgres');
    expect(result.output).toContain('no-circular');
  });

  it('fails a file in a folder that belongs to no layer', async () => {
    const result = await cruise({
      'src/misc/helper.ts': 'export const one = 1;\n',
      'src/monitor/lag.ts': "import { one } from '../misc/helper.js';\nexport const lag = one;\n",
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain('not-in-a-layer');
  });
});
