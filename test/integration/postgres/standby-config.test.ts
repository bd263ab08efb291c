import { describe, expect, it } from 'vitest';
import { resolveRunAs } from '../../../src/exec/run.js';
import { editAutoConf, readAutoConf } from '../../../src/postgres/standby-config.js';
import { createLeader } from '../../helpers/cluster.js';

describe('postgresql.auto.conf written offline', () => {
  it('keeps backslashes and quotes exactly as PostgreSQL reads them, across later edits', async () => {
    const node = await createLeader();
    await node.stop();
    const runAs = await resolveRunAs('postgres');
    // The shapes a restore_command or a conninfo password can take.
    const value = String.raw`C:\wal\%f 'quoted' \\share it''s`;
    await editAutoConf(node.dataDirectory, { 'pgfollower.probe': value }, runAs);
    expect(readAutoConf(node.dataDirectory).get('pgfollower.probe')).toBe(value);
    // A later edit re-writes every line from what it read back: the value must survive it.
    await editAutoConf(node.dataDirectory, { 'pgfollower.other': 'x' }, runAs);
    expect(readAutoConf(node.dataDirectory).get('pgfollower.probe')).toBe(value);
    await node.start();
    const [row] = await node.query<{ v: string }>("select current_setting('pgfollower.probe') as v");
    expect(row?.v).toBe(value);
    await node.stop();
  });
});
