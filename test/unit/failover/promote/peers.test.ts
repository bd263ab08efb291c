import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  isHttpPeer,
  labelPeer,
  parseStatusPosition,
  readPeerPosition,
} from '../../../../src/failover/promote/peers.js';
import { parseLsn } from '../../../../src/postgres/lsn.js';

describe('peers', () => {
  it('tells URLs from conninfo and never labels a peer with its password', () => {
    expect(isHttpPeer('http://10.0.0.2:8008')).toBe(true);
    expect(isHttpPeer('host=10.0.0.2 port=5432')).toBe(false);
    expect(labelPeer('host=10.0.0.2 port=5433 password=secret')).toBe('10.0.0.2:5433');
    expect(labelPeer('http://10.0.0.2:8008/')).toBe('http://10.0.0.2:8008');
  });

  it('reads the local position from a supervisor /status answer in its several shapes', () => {
    const sourced = {
      local: {
        ok: true,
        value: { inRecovery: true, timeline: 2, receiveLsn: '50331648', replayLsn: '0/2FFFFFF' },
      },
    };
    expect(parseStatusPosition(sourced)).toEqual({
      inRecovery: true,
      timeline: 2,
      lsn: 50331648n,
      failoverPriority: null,
    });
    const wrapped = { snapshot: { local: { inRecovery: false, timeline: 3, currentLsn: '1/0' } } };
    expect(parseStatusPosition(wrapped)).toEqual({
      inRecovery: false,
      timeline: 3,
      lsn: parseLsn('1/0'),
      failoverPriority: null,
    });
    expect(parseStatusPosition({ local: { ok: false, error: 'down' } })).toBeUndefined();
    // The supervisor's own status document (src/monitor/status.ts).
    const doc = { node: 'b', role: 'replica', timeline: 1, receiveLsn: '0/3000000', replayLsn: '0/2000000' };
    expect(parseStatusPosition(doc)).toEqual({
      inRecovery: true,
      timeline: 1,
      lsn: parseLsn('0/3000000'),
      failoverPriority: null,
    });
    expect(parseStatusPosition({ ...doc, role: 'primary' })?.inRecovery).toBe(false);
    expect(parseStatusPosition({ role: 'down', timeline: null, receiveLsn: null })).toBeUndefined();
    expect(parseStatusPosition('nope')).toBeUndefined();
  });
});

describe('HTTP peers', () => {
  it('asks a peer supervisor for /status over HTTP', async () => {
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        req.url === '/status'
          ? JSON.stringify({ role: 'replica', timeline: 2, receiveLsn: '0/5000000', replayLsn: '0/5000000' })
          : '{}',
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const position = await readPeerPosition(`http://127.0.0.1:${port}/`, {
        connectTimeoutMs: 2000,
        signal: new AbortController().signal,
      });
      expect(position).toMatchObject({ ok: true, via: 'http', timeline: 2, lsn: parseLsn('0/5000000') });
    } finally {
      server.close();
    }
    const down = await readPeerPosition(`http://127.0.0.1:${port}`, {
      connectTimeoutMs: 2000,
      signal: new AbortController().signal,
    });
    expect(down.ok).toBe(false);
  });
});
