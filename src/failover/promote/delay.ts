import type { Context } from '../../context.js';
import type { CheckResult } from '../../errors.js';
import { withClient, type PgClient } from '../../postgres/client.js';
import { formatDurationMs } from '../../config/units.js';
import { formatLsn } from '../../postgres/lsn.js';
import type { NodePosition } from '../../postgres/replica-state.js';
import { alterSystem } from '../../postgres/standby-config.js';
import { CHECK } from './checks.js';

const DELAY_CHECK = CHECK.delay;

/**
 * A delayed follower (node.applyDelay, recovery_min_apply_delay) holds received WAL back on purpose:
 * its point is the window before a mistake (a DROP TABLE) reaches it. Promoting it gives that window
 * up, since PostgreSQL applies what it holds when promoted. So promote says so, and with
 * `finishReplay` lifts the delay (ALTER SYSTEM SET recovery_min_apply_delay = 0, reload) so that the
 * replay check that follows waits for everything received to be replayed before pg_promote.
 * https://www.postgresql.org/docs/current/runtime-config-replication.html#GUC-RECOVERY-MIN-APPLY-DELAY
 */
export async function checkApplyDelay(
  ctx: Context,
  local: string,
  position: NodePosition,
  options: { dryRun: boolean; finishReplay: boolean },
): Promise<{ check: CheckResult; heldBack: boolean }> {
  const delayMs = await withClient(local, { connectTimeoutMs: 10_000, signal: ctx.signal }, readApplyDelayMs);
  if (delayMs <= 0) {
    return {
      check: {
        name: DELAY_CHECK,
        ok: true,
        detail: 'not a delayed follower',
        numbers: { apply_delay_ms: 0 },
      },
      heldBack: false,
    };
  }
  const received = position.receiveLsn;
  const replayed = position.replayLsn ?? 0n;
  const held = received !== null && received > replayed ? received - replayed : 0n;
  const numbers = {
    apply_delay_ms: delayMs,
    held_back_bytes: Number(held),
    receive_lsn: received === null ? null : formatLsn(received),
    replay_lsn: formatLsn(replayed),
  };
  const delay = formatDurationMs(delayMs);
  const window = `promoting gives up the delay window of ${delay} (the held-back WAL, including any mistake in it, is applied)`;
  if (options.finishReplay && !options.dryRun) {
    ctx.reporter.step(
      `delayed follower (recovery_min_apply_delay ${delay}): lifting the delay so replay finishes before promoting`,
    );
    await withClient(local, { connectTimeoutMs: 10_000, signal: ctx.signal }, (c) =>
      alterSystem(c, { recovery_min_apply_delay: 0 }),
    );
    return {
      check: {
        name: DELAY_CHECK,
        ok: true,
        detail: `delayed follower: recovery_min_apply_delay ${delay} lifted (ALTER SYSTEM SET recovery_min_apply_delay = 0) so the ${held} bytes held back are replayed first; ${window}`,
        numbers,
      },
      heldBack: false,
    };
  }
  return {
    check: {
      name: DELAY_CHECK,
      ok: false,
      forceable: true,
      detail: `delayed follower (recovery_min_apply_delay ${delay}, ${held} bytes received and held back): ${window}. Pass --finish-replay to lift the delay and replay everything before promoting; to undo a mistake inside the window do not promote: pause replay (SELECT pg_wal_replay_pause()) and recover to a target before it`,
      numbers,
    },
    heldBack: true,
  };
}

async function readApplyDelayMs(client: PgClient): Promise<number> {
  // pg_settings reports recovery_min_apply_delay in its unit, ms.
  const row = (
    await client.query<{ ms: string | null }>(
      "SELECT setting AS ms FROM pg_settings WHERE name = 'recovery_min_apply_delay'",
    )
  ).rows[0];
  const ms = Number(row?.ms ?? 0);
  return Number.isFinite(ms) ? ms : 0;
}
