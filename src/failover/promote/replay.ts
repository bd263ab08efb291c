import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../../context.js';
import type { CheckResult } from '../../errors.js';
import { withClient } from '../../postgres/client.js';
import { formatLsn, parseLsn, type Lsn } from '../../postgres/lsn.js';
import type { NodePosition } from '../../postgres/replica-state.js';
import { CHECK } from './checks.js';
import { readCompleteRecords } from './zero-loss.js';

/**
 * Everything received is replayed: resumes a paused replay and waits (unless dry run). A leader
 * that crashed while sending a record leaves its first bytes here: no complete record follows the
 * replay position, nothing more can be replayed, and PostgreSQL discards that torn tail when it
 * promotes. pg_waldump tells it apart from a replay that is stuck, so promote does not wait it out.
 */
export async function checkReplay(
  ctx: Context,
  local: string,
  position: NodePosition,
  options: { dryRun?: boolean | undefined; replayTimeoutMs?: number | undefined },
): Promise<CheckResult> {
  const notes: string[] = [];
  if (position.replayPaused) {
    if (options.dryRun) notes.push('replay is paused; promote will resume it');
    else {
      ctx.reporter.step('replay is paused: resuming it (pg_wal_replay_resume)');
      await withClient(local, { signal: ctx.signal, connectTimeoutMs: 10_000 }, (c) =>
        c.query('SELECT pg_wal_replay_resume()'),
      );
      notes.push('replay was paused; resumed');
    }
  }
  const target = position.receiveLsn;
  if (target === null) {
    return {
      name: CHECK.replay,
      ok: true,
      detail: [...notes, 'nothing received by streaming since this server started'].join('; '),
      numbers: { replay_lsn: position.replayLsn === null ? null : formatLsn(position.replayLsn) },
    };
  }
  const timeoutMs = options.replayTimeoutMs ?? 60_000;
  let replay = position.replayLsn ?? 0n;
  const tornAfter = async (from: Lsn): Promise<boolean> => {
    const records = await readCompleteRecords(ctx, position.timeline, from, target);
    return records !== null && records.length === 0;
  };
  let torn = replay < target && !options.dryRun && (await tornAfter(replay));
  if (replay < target && !options.dryRun && !torn) {
    ctx.reporter.step(
      `waiting up to ${Math.round(timeoutMs / 1000)}s for replay to reach ${formatLsn(target)}`,
    );
    const deadline = ctx.clock.now() + timeoutMs;
    replay = await withClient(local, { signal: ctx.signal, connectTimeoutMs: 10_000 }, async (c) => {
      let at = replay;
      let movedAt = ctx.clock.now();
      while (at < target && ctx.clock.now() < deadline) {
        await delay(100, undefined, { signal: ctx.signal });
        const row = (await c.query<{ l: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS l'))
          .rows[0];
        const now = row?.l ? parseLsn(row.l) : at;
        if (now !== at) movedAt = ctx.clock.now();
        at = now;
        // Replay stands still: is what is left a torn record (then stop waiting)?
        if (at < target && ctx.clock.now() - movedAt >= 2000) {
          if (await tornAfter(at)) {
            torn = true;
            break;
          }
          movedAt = ctx.clock.now();
        }
      }
      return at;
    });
  }
  const behind = target > replay ? target - replay : 0n;
  const numbers = {
    receive_lsn: formatLsn(target),
    replay_lsn: formatLsn(replay),
    unreplayed_bytes: Number(behind),
  };
  if (behind === 0n)
    return { name: CHECK.replay, ok: true, detail: [...notes, 'replay caught up'].join('; '), numbers };
  if (torn) {
    return {
      name: CHECK.replay,
      ok: true,
      detail: [
        ...notes,
        `replay caught up with every complete record received; the last ${behind} bytes are an incomplete record (the old leader stopped while sending it), which promotion discards`,
      ].join('; '),
      numbers: { ...numbers, torn_tail_bytes: Number(behind) },
    };
  }
  if (options.dryRun) {
    return {
      name: CHECK.replay,
      ok: true,
      detail: [
        ...notes,
        `${behind} bytes received but not replayed yet; promote waits up to ${Math.round(timeoutMs / 1000)}s`,
      ].join('; '),
      numbers,
    };
  }
  return {
    name: CHECK.replay,
    ok: false,
    forceable: true,
    detail: [
      ...notes,
      `${behind} bytes still not replayed after ${Math.round(timeoutMs / 1000)}s: replay is slow or stuck (read the server log)`,
    ].join('; '),
    numbers,
  };
}
