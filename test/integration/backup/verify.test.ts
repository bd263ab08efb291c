import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { pgbench } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { createBackupRig } from './helpers.js';

async function runCli(args: string[]): Promise<{ code: number; text: string; stdout: string }> {
  const output = createMemoryOutput();
  const code = await main(args, { output });
  return { code, text: output.text(), stdout: output.stdout.join('\n') };
}

describe('backup verify', () => {
  beforeAll(requireBuiltCli);

  it('passes on a good backup and catches a corrupted part', async () => {
    const rig = await createBackupRig({ backup: { compression: 'none' } });
    try {
      await pgbench(rig.leader, ['-i', '-s', '2', '-q']);
      // Through the CLI, as an operator would; the leader is idle, so backup asks it to switch segments.
      const taken = await runCli(['--config', rig.file, 'backup', '--json']);
      expect(taken.code, taken.text).toBe(0);
      const backup = JSON.parse(taken.stdout) as { id: string; parts: Array<{ key: string }> };
      expect(backup.parts.length).toBeGreaterThan(2);

      const listed = await runCli(['--config', rig.file, 'backup', 'list', '--json']);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toMatchObject([{ id: backup.id, complete: true }]);

      const good = await runCli(['--config', rig.file, 'backup', 'verify', backup.id]);
      expect(good.text).toContain('[ ok ] pg_verifybackup');
      expect(good.code, good.text).toBe(0);

      // The restore-time maths from this backup and the live servers (replay rate given as a flag).
      const est = await runCli([
        '--config',
        rig.file,
        'estimate',
        '--json',
        '--outage',
        '1h',
        '--target-restore',
        '30m',
        '--replay-rate',
        '50MB',
      ]);
      expect(est.code, est.text).toBe(0);
      const estimate = JSON.parse(est.stdout) as Record<string, unknown> & {
        inputs: Record<string, { source: string }>;
      };
      for (const field of [
        'rebuildFromLeaderSeconds',
        'restoreFromArchiveSeconds',
        'catchUpSecondsAfterOutage',
      ]) {
        expect(typeof estimate[field], field).toBe('number');
      }
      expect(estimate).toHaveProperty('maxSurvivableOutageSeconds');
      expect(estimate).toHaveProperty('recommendedBackupIntervalSeconds');
      expect(typeof estimate.rpoBytes).toBe('number');
      expect(estimate.inputs.backupBytes?.source).toBe('backup');
      expect(estimate.inputs.replayBytesPerSecond?.source).toBe('flag');

      // One flipped byte in the middle of a data part (uncompressed, so only the checksums can tell).
      const part = join(rig.archiveDir, (backup.parts[1] as { key: string }).key);
      const bytes = await readFile(part);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      await writeFile(part, bytes);

      const bad = await runCli(['--config', rig.file, 'backup', 'verify', backup.id]);
      expect(bad.code).toBe(1);
      expect(bad.text).toMatch(/\[FAIL\] parts: .*base\.tar\.00001 is corrupt/);
      expect(bad.text).toContain('FAILED: backup');
    } finally {
      await rig.follower.stop();
      await rig.leader.stop();
      rig.store.close();
    }
  }, 240_000);
});
