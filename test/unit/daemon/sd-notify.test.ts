import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createSdNotifyService } from '../../../src/daemon/sd-notify.js';
import { systemClock } from '../../../src/context.js';
import type { SupervisorHandle } from '../../../src/daemon/types.js';
import type { SupervisorEvents } from '../../../src/monitor/events.js';
import { createSilentLogger } from '../../../src/logging/logger.js';
import { previousSnapshot, unclassified } from '../monitor/fixtures.js';

describe('sd-notify service', () => {
  it('is absent without NOTIFY_SOCKET', () => {
    expect(
      createSdNotifyService({
        env: {},
        logger: createSilentLogger(),
        notify: async () => undefined,
        clock: systemClock,
      }),
    ).toBeUndefined();
  });

  it('READY on start, WATCHDOG at half WatchdogSec, STATUS on state change, STOPPING on shutdown', async () => {
    const sent: string[][] = [];
    let now = 0;
    const service = createSdNotifyService({
      env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '10000000' },
      logger: createSilentLogger(),
      notify: async (fields) => {
        sent.push([...fields]);
      },
      clock: { now: () => now },
    });
    if (!service) throw new Error('expected a service');
    const events = new EventEmitter<SupervisorEvents>();
    const first = previousSnapshot(unclassified(), 'streaming');
    const handle = { events, latest: () => first } as unknown as SupervisorHandle;
    const running = await service.start(handle);
    expect(sent[0]?.[0]).toBe('READY=1');
    now = 4000;
    events.emit('snapshot', first);
    expect(sent).toHaveLength(1);
    now = 5000;
    events.emit('snapshot', first);
    expect(sent[1]).toEqual(['WATCHDOG=1']);
    now = 5500;
    events.emit('snapshot', { ...first, state: 'disconnected', reason: 'leader unreachable' });
    expect(sent[2]).toEqual(['STATUS=disconnected: leader unreachable']);
    events.emit('supervisor:stopping', { reason: 'received SIGTERM' });
    expect(sent[3]?.[0]).toBe('STOPPING=1');
    await running.stop();
    events.emit('snapshot', first);
    expect(sent).toHaveLength(4);
  });

  it('lengthens WatchdogSec when ticks come further apart than it allows (long monitor.intervalMs)', async () => {
    const sent: string[][] = [];
    let now = 0;
    const service = createSdNotifyService({
      env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' },
      logger: createSilentLogger(),
      notify: async (fields) => {
        sent.push([...fields]);
      },
      clock: { now: () => now },
    });
    if (!service) throw new Error('expected a service');
    const events = new EventEmitter<SupervisorEvents>();
    const first = previousSnapshot(unclassified(), 'streaming');
    const config = (intervalMs: number) => ({
      monitor: { intervalMs, queryTimeoutMs: 3000 },
      leader: { connectTimeoutMs: 5000 },
    });
    const handle = {
      events,
      latest: () => first,
      context: { config: config(1000) },
    } as unknown as SupervisorHandle;
    const running = await service.start(handle);
    // Defaults (1 s ticks) fit the unit's 30 s: nothing to change.
    expect(sent[0]).toEqual(['READY=1', 'STATUS=streaming: recorded']);
    // Reloaded to one tick a minute: ticks (and so WATCHDOG=1) come > 60 s apart; 30 s would kill it.
    events.emit('config:reload', {
      config: config(60_000),
    } as unknown as SupervisorEvents['config:reload'][0]);
    expect(sent[1]).toEqual(['WATCHDOG_USEC=146000000']);
    now = 73_000;
    events.emit('snapshot', first);
    expect(sent[2]).toEqual(['WATCHDOG=1']);
    await running.stop();
  });
});
