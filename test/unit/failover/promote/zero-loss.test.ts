import { describe, expect, it } from 'vitest';
import { judgeLastRecord, parseWalDump } from '../../../../src/failover/promote/zero-loss.js';
import { parseLsn } from '../../../../src/postgres/lsn.js';

const DUMP = `rmgr: Heap        len (rec/tot):     59/    59, tx:        740, lsn: 0/0303F2D8, prev 0/0303F2A0, desc: INSERT+INIT off 1 flags 0x00, blkref #0: rel 1663/5/16384 blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:        740, lsn: 0/0303F318, prev 0/0303F2D8, desc: COMMIT 2026-12-02 02:09:50.123456 UTC
rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/0303F350, prev 0/0303F318, desc: CHECKPOINT_SHUTDOWN redo 0/303F350; tli 1; prev tli 1; fpw true; xid 0:741; oid 24576; multi 1; offset 0; oldest xid 716 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown
pg_waldump: error: error in WAL record at 0/303F350: invalid record length at 0/303F3C8: wanted 24, got 0`;

describe('zero-loss proof from the WAL', () => {
  const records = parseWalDump(DUMP);

  it("reads pg_waldump's records, skipping its error line", () => {
    expect(records.map((r) => r.rmgr)).toEqual(['Heap', 'Transaction', 'XLOG']);
    expect(records[2]).toMatchObject({ lsn: parseLsn('0/303F350'), totalLength: 114 });
  });

  it('proves zero loss when the last record received is a replayed shutdown checkpoint', () => {
    const verdict = judgeLastRecord(records.at(-1), {
      receiveLsn: parseLsn('0/303F3C8'),
      replayLsn: parseLsn('0/303F3C8'),
      timeline: 1,
    });
    expect(verdict).toMatchObject({
      zeroLoss: true,
      proof: { method: 'shutdown-checkpoint', recordLsn: '0/303F350', recordEndLsn: '0/303F3C2' },
    });
  });

  it('proves nothing when the checkpoint is not replayed yet, or the last record is anything else', () => {
    const unreplayed = judgeLastRecord(records.at(-1), {
      receiveLsn: parseLsn('0/303F3C8'),
      replayLsn: parseLsn('0/303F350'),
      timeline: 1,
    });
    expect(unreplayed).toMatchObject({ zeroLoss: false });
    expect(unreplayed.zeroLoss ? '' : unreplayed.reason).toContain('received but not replayed');
    const crash = judgeLastRecord(records[1], {
      receiveLsn: parseLsn('0/303F350'),
      replayLsn: parseLsn('0/303F350'),
      timeline: 1,
    });
    expect(crash.zeroLoss ? '' : crash.reason).toContain(
      'the last record received (Transaction COMMIT at 0/303F318) is not a shutdown checkpoint',
    );
    expect(judgeLastRecord(undefined, { receiveLsn: 1n, replayLsn: 1n, timeline: 1 }).zeroLoss).toBe(false);
  });
});
