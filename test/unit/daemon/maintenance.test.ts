import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  describeMaintenance,
  endMaintenance,
  readMaintenance,
  startMaintenance,
} from '../../../src/daemon/maintenance.js';

describe('maintenance windows', () => {
  it('holds until `until`, then ends by itself; off ends it at once', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'pgf-maint-')), 'maintenance.json');
    const t0 = Date.parse('2026-12-02T02:00:00Z');
    expect(readMaintenance(file, t0)).toBeNull();
    await startMaintenance(file, { since: t0, until: t0 + 2 * 3_600_000, reason: 'kernel upgrade' });
    const during = readMaintenance(file, t0 + 3_600_000);
    expect(during).toEqual({ since: t0, until: t0 + 7_200_000, reason: 'kernel upgrade' });
    expect(describeMaintenance(during!)).toBe('maintenance until 2026-12-02T04:00:00.000Z (kernel upgrade)');
    expect(readMaintenance(file, t0 + 7_200_000)).toBeNull();
    await endMaintenance(file);
    expect(readMaintenance(file, t0 + 60_000)).toBeNull();
  });

  it('never holds on a file it cannot read', () => {
    expect(readMaintenance(undefined, 0)).toBeNull();
    expect(readMaintenance('/nonexistent/maintenance.json', 0)).toBeNull();
  });
});
