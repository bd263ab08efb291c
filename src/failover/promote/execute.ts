import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../../context.js';
import { DatabaseUnavailableError, ExitCode, PgFollowerError, RefusedError } from '../../errors.js';
import { connect, localConninfo, sqlState, type PgClient } from '../../postgres/client.js';
import type { Lsn } from '../../postgres/lsn.js';
import { readNodePosition } from '../../postgres/replica-state.js';
import { alterSystem } from '../../postgres/standby-config.js';
import { checkOldLeader } from './checks.js';
import type { PromotionPlan } from './plan.js';

interface PromotionResult {
  previousTimeline: number;
  timeline: number;
  /** First LSN of the new timeline's WAL we saw after the write. */
  currentLsn: Lsn;
  /** ms from the start of promotion to the first committed write. */
  msToFirstWrite: number;
  removedSettings: string[];
  warnings: string[];
}

/** Promotes; call only after checkPromotion passed (or the operator forced the forceable checks). */
export async function executePromotion(
  ctx: Context,
  plan: PromotionPlan,
  startedAt: number = ctx.clock.now(),
): Promise<PromotionResult> {
  const local = localConninfo(ctx.config.node);
  const previousTimeline = plan.local?.timeline ?? 0;
  // The checks may be minutes old (replay and archive waits, the confirmation prompt): an old
  // leader that came back meanwhile must still stop us, right before the point of no return.
  if (plan.oldLeaders.length > 0) {
    const leader = await checkOldLeader(plan.oldLeaders, ctx.config.leader.connectTimeoutMs, ctx.signal);
    if (!leader.ok) {
      throw new RefusedError(
        'not promoting: the old leader changed since the checks; nothing was changed',
        [leader],
        { hint: 'stop or fence the old leader, then run pgfollower promote again' },
      );
    }
  }
  ctx.reporter.step('promoting: SELECT pg_promote(wait => true, wait_seconds => 60)');
  const client = await connect(local, { signal: ctx.signal, connectTimeoutMs: 10_000 });
  try {
    const promoted = (await client.query<{ p: boolean }>('SELECT pg_promote(true, 60) AS p')).rows[0]?.p;
    if (promoted !== true) {
      throw new PgFollowerError('PROMOTE_TIMEOUT', 'pg_promote did not finish within 60 s', ExitCode.FAILED, {
        hint: 'read the server log; the node may still finish promoting: check with SELECT pg_is_in_recovery()',
      });
    }
    await proveWritable(ctx, client);
    const msToFirstWrite = ctx.clock.now() - startedAt;
    const after = await readNodePosition(client);
    if (after.inRecovery || after.timeline <= previousTimeline) {
      throw new DatabaseUnavailableError(
        `after pg_promote the node reports in_recovery=${after.inRecovery} on timeline ${after.timeline} (was ${previousTimeline})`,
        { hint: 'read the server log before doing anything else' },
      );
    }
    ctx.reporter.done(`promoted: writable on timeline ${after.timeline} after ${msToFirstWrite} ms`);
    const { removedSettings, warnings } = await removeStandbySettings(client);
    return {
      previousTimeline,
      timeline: after.timeline,
      currentLsn: after.currentLsn ?? 0n,
      msToFirstWrite,
      removedSettings,
      warnings,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Waits (30 s at most) until a transaction can take an xid: it fails with 25006 while read-only. */
async function proveWritable(ctx: Context, client: PgClient): Promise<void> {
  const deadline = ctx.clock.now() + 30_000;
  for (;;) {
    try {
      await client.query('SELECT pg_current_xact_id()');
      return;
    } catch (error) {
      if (sqlState(error) !== '25006' || ctx.clock.now() > deadline) throw error;
      await delay(20, undefined, { signal: ctx.signal });
    }
  }
}

/**
 * Resets the settings that only mean something on a standby. restore_command stays: it is read
 * only during recovery, so it is inert on a primary, and it is what lets this node catch up from
 * the archive if it is ever rebuilt or re-pointed as a follower. The node is promoted already: a
 * failure here is a warning, never a failed promote (exit 1 here would send the operator after a
 * problem that does not exist, without the next steps).
 */
async function removeStandbySettings(
  client: PgClient,
): Promise<{ removedSettings: string[]; warnings: string[] }> {
  const removedSettings: string[] = [];
  const warnings: string[] = [];
  try {
    const stale = await client.query<{ name: string; setting: string; sourcefile: string | null }>(
      `SELECT name, setting, sourcefile FROM pg_settings
        WHERE name IN ('primary_conninfo', 'primary_slot_name') AND setting <> ''`,
    );
    const inAutoConf = stale.rows.filter(
      (r) => r.sourcefile === null || r.sourcefile.endsWith('postgresql.auto.conf'),
    );
    if (inAutoConf.length > 0) {
      await alterSystem(client, Object.fromEntries(inAutoConf.map((r) => [r.name, null])));
      removedSettings.push(...inAutoConf.map((r) => r.name));
    }
    for (const r of stale.rows.filter((row) => !inAutoConf.includes(row))) {
      warnings.push(
        `${r.name} is set in ${r.sourcefile}: remove it there by hand (it is ignored on a primary)`,
      );
    }
  } catch (error) {
    warnings.push(
      `promoted, but removing primary_conninfo / primary_slot_name failed (${(error as Error).message}): run ALTER SYSTEM RESET primary_conninfo; ALTER SYSTEM RESET primary_slot_name; SELECT pg_reload_conf(); on this node (they are ignored on a primary)`,
    );
  }
  return { removedSettings, warnings };
}
