import { beforeAll, describe, expect, it } from 'vitest';
import { backupPlugin, nextBackupDue } from '../../../src/backup/plugin.js';
import { listBackups } from '../../../src/backup/list.js';
import { startSupervisor } from '../../../src/daemon/supervisor.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { waitFor } from '../../helpers/wait.js';
import { supervisorContext } from '../daemon/context.js';
import { createBackupRig, closeRig } from './helpers.js';

describe('scheduled backups in pgfollower run', () => {
  beforeAll(requireBuiltCli);

  it('computes the due time from the newest backup with at most 10 % jitter', () => {
    expect(nextBackupDue(undefined, 86_400_000, () => 0.5)).toBe(0);
    expect(nextBackupDue(1_000, 86_400_000, () => 0)).toBe(86_401_000);
    expect(nextBackupDue(1_000, 86_400_000, () => 0.999)).toBeLessThan(1_000 + 86_400_000 * 1.1);
  });

  it('takes a backup once the follower streams when none exists, and only when enabled', async () => {
    const rig = await createBackupRig();
    try {
      const off = await supervisorContext(rig.leader, rig.follower, { extra: { archive: rig.archive } });
      expect(backupPlugin(off)).toBeUndefined();
      const ctx = await supervisorContext(rig.leader, rig.follower, {
        extra: { archive: rig.archive, backup: { enabled: true, schedule: '24h', partSize: '4MB' } },
      });
      const plugin = backupPlugin(ctx);
      expect(plugin?.services?.map((s) => s.name)).toEqual(['backup-schedule']);
      await using supervisor = await startSupervisor(ctx, { services: plugin?.services ?? [], http: false });
      const backups = await waitFor(
        'a scheduled backup to complete',
        async () => {
          const list = await listBackups(rig.store);
          return list.some((b) => b.complete) ? list : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 1000 },
      );
      expect(backups.filter((b) => b.complete)).toHaveLength(1);
      await supervisor.stop('test over');
    } finally {
      await closeRig(rig);
    }
  }, 240_000);
});
