import { describe, expect, it } from 'vitest';
import { describeNextSteps } from '../../../../src/failover/promote/next-steps.js';

describe('next steps after a promotion', () => {
  it('names every peer and old leader, with the new leader masked', () => {
    const lines = describeNextSteps(
      {
        advertise: 'host=new port=5432 user=rep password=secret',
        peers: [{ peer: 'host=b', label: 'b:5432', ok: false, via: 'sql', error: 'down' }],
        oldLeaders: ['host=old port=5433 password=x'],
      },
      '-c /etc/pgf.yaml ',
    );
    const text = lines.join('\n');
    expect(text).not.toContain('secret');
    expect(text).toContain("on follower b:5432:  pgfollower -c /etc/pgf.yaml follow --leader 'host=new");
    expect(text).toContain('on the old leader old:5433: do NOT start it as a primary');
    expect(lines.at(-1)).toContain('set leader.conninfo');
  });

  it('speaks of every other follower when no peers are known', () => {
    const lines = describeNextSteps({ advertise: 'host=new', peers: [], oldLeaders: [] }, '');
    expect(lines).toContain("  on every other follower:  pgfollower follow --leader 'host=new' --yes");
  });
});
