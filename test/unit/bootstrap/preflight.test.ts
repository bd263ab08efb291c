import { describe, expect, it } from 'vitest';
import { evaluatePreflight, type PreflightInput } from '../../../src/bootstrap/preflight.js';

const base: PreflightInput = {
  leader: {
    systemId: '1',
    timeline: 1,
    xlogpos: '0/3000000',
    serverVersionNum: 150010,
    walLevel: 'replica',
    maxWalSenders: 10,
    usedWalSenders: 1,
    maxReplicationSlots: 10,
    usedReplicationSlots: 0,
    databaseBytes: 1_000_000_000,
    inRecovery: false,
    walSegmentSize: 16777216,
  },
  localMajor: 15,
  dataDirectory: '/data',
  directoryState: 'absent',
  force: false,
  slotName: 'replica_a',
  existingSlot: undefined,
  freeBytes: 10_000_000_000,
  diskMargin: 0.1,
};

const failed = (input: PreflightInput) =>
  evaluatePreflight(input)
    .filter((c) => !c.ok)
    .map((c) => c.name);

describe('bootstrap pre-flight', () => {
  it('passes a healthy leader and an absent directory', () => {
    expect(failed(base)).toEqual([]);
  });

  it('names every failing check with its numbers', () => {
    const checks = evaluatePreflight({
      ...base,
      leader: {
        ...base.leader,
        walLevel: 'minimal',
        usedWalSenders: 9,
        usedReplicationSlots: 9,
        serverVersionNum: 160002,
      },
      directoryState: 'data-directory',
      freeBytes: 1_000_000_000,
    });
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      'wal_level',
      'free WAL senders',
      'free replication slots',
      'versions match',
      'data directory',
      'free disk',
    ]);
    const disk = checks.find((c) => c.name === 'free disk');
    expect(disk?.numbers).toEqual({
      free_bytes: 1_000_000_000,
      needed_bytes: 1_100_000_000,
      leader_bytes: 1_000_000_000,
    });
    expect(checks.find((c) => c.name === 'data directory')?.forceable).toBe(true);
  });

  it('lets --force through a non-empty directory, saying it will be moved aside', () => {
    const checks = evaluatePreflight({ ...base, directoryState: 'other', force: true });
    const dir = checks.find((c) => c.name === 'data directory');
    expect(dir?.ok).toBe(true);
    expect(dir?.detail).toContain('moves it aside');
  });

  it('refuses a slot another server is using, and reuses an inactive one', () => {
    const slot = {
      name: 'replica_a',
      active: true,
      temporary: false,
      restartLsn: '0/1',
      walStatus: 'reserved',
    };
    expect(failed({ ...base, existingSlot: slot })).toEqual(['slot replica_a']);
    const inactive = evaluatePreflight({ ...base, existingSlot: { ...slot, active: false } });
    expect(inactive.find((c) => c.name === 'slot replica_a')?.detail).toContain('reused');
  });
});
