import { setTimeout as delay } from 'node:timers/promises';
import { hostname } from 'node:os';
import type { Context } from '../context.js';
import {
  DatabaseUnavailableError,
  PgFollowerError,
  RefusedError,
  ExitCode,
  type CheckResult,
} from '../errors.js';
import { connect, localConninfo, sqlState, withClient, type PgClient } from '../postgres/client.js';
import { describeConninfo, formatConninfo, maskConninfo, parseConninfo } from '../postgres/conninfo.js';
import { formatLsn, parseLsn, type Lsn } from '../postgres/lsn.js';
import { furthestLsn, readNodePosition, type NodePosition } from '../postgres/replica-state.js';
import { alterSystem } from '../postgres/standby-config.js';
import { readPeerPosition, type PeerPosition } from './peers.js';
import { checkArchiveDrained, type ArchiveDrainCheck } from './archive-drain.js';

/**
 * Guided promotion: prove it is safe (old leader not writable, nothing received left unreplayed,
 * nothing archived left unfetched, no peer further ahead, data loss estimated), then pg_promote,
 * verify a write on the new timeline, and tell the operator what to run on the other nodes.
 * https://www.postgresql.org/docs/current/warm-standby-failover.html
 */

export interface PromoteOptions {
  /** Other followers (conninfo or pgfollower HTTP URLs); default cluster.peers. */
  peers?: readonly string[];
  dryRun?: boolean;
  /** How long to wait for received WAL (and archived WAL) to be replayed before judging. */
  replayTimeoutMs?: number;
  /** Conninfo the other nodes should use to reach this node after promotion (for the printed commands). */
  advertise?: string;
}

export interface PromotionPlan {
  checks: CheckResult[];
  /** Checks that failed and --force may override. */
  forceable: CheckResult[];
  /** Checks that failed and nothing may override. */
  blocking: CheckResult[];
  local: NodePosition | null;
  peers: PeerPosition[];
  oldLeaders: string[];
  /** Estimated bytes of committed WAL this node lacks versus the last leader position known. */
  estimatedLossBytes: bigint | null;
  advertise: string;
}

const CHECK = {
  local: 'this node is a running replica',
  leader: 'old leader is not accepting writes',
  replay: 'all received WAL is replayed',
  archive: 'archive holds nothing beyond our replay position',
  peers: 'no peer is further ahead',
  loss: 'estimated data loss',
} as const;

export async function checkPromotion(ctx: Context, options: PromoteOptions = {}): Promise<PromotionPlan> {
  const { config } = ctx;
  const checks: CheckResult[] = [];
  const local = localConninfo(config.node);
  const timeoutMs = config.leader.connectTimeoutMs;
  const peersWanted = options.peers && options.peers.length > 0 ? options.peers : config.cluster.peers;

  // Independent network questions run together: a promote during an incident must be quick.
  ctx.reporter.step('reading this node, the old leader, peers and the supervisor');
  const [localResult, peers, supervisorLeaderLsn] = await Promise.all([
    withClient(local, { connectTimeoutMs: timeoutMs, queryTimeoutMs: 10_000 }, async (client) => {
      const position = await readNodePosition(client);
      const primaryConninfo = await readSetting(client, 'primary_conninfo');
      return { position, primaryConninfo };
    }).catch((error: unknown) => error as Error),
    Promise.all(
      peersWanted.map((p) => readPeerPosition(p, { connectTimeoutMs: timeoutMs, signal: ctx.signal })),
    ),
    readSupervisorLeaderLsn(ctx),
  ]);

  let position: NodePosition | null = null;
  let primaryConninfo: string | null = null;
  if (localResult instanceof Error) {
    checks.push({
      name: CHECK.local,
      ok: false,
      detail: `cannot reach the local server at ${describeConninfo(local)}: ${localResult.message}; start it (pg_ctl start -D ${config.node.dataDirectory ?? '$PGDATA'}) and retry`,
    });
  } else {
    position = localResult.position;
    primaryConninfo = localResult.primaryConninfo;
    checks.push(
      position.inRecovery
        ? {
            name: CHECK.local,
            ok: true,
            detail: `in recovery on timeline ${position.timeline}`,
            numbers: {
              timeline: position.timeline,
              receive_lsn: lsnText(position.receiveLsn),
              replay_lsn: lsnText(position.replayLsn),
            },
          }
        : {
            name: CHECK.local,
            ok: false,
            detail: `already a primary on timeline ${position.timeline}: nothing to promote`,
            numbers: { timeline: position.timeline, current_lsn: lsnText(position.currentLsn) },
          },
    );
  }

  // The old leader: every address we know it by. A reachable primary among them is the one refusal
  // that --force cannot override: two writable leaders is data loss by construction.
  const leaderAddresses = uniqueByAddress(
    [config.leader.conninfo, primaryConninfo ?? undefined].filter((c): c is string => !!c && c.trim() !== ''),
  );
  const leaderCheck = await checkOldLeader(leaderAddresses, timeoutMs);
  checks.push(leaderCheck);

  if (position?.inRecovery) {
    // With the old leader still writable nothing will be promoted: report, but change nothing
    // (no resume, no archive copy) and do not wait.
    const look = !leaderCheck.ok ? { ...options, dryRun: true } : options;
    checks.push(await checkReplay(ctx, local, position, look));
    // Re-read after the wait: the numbers below are the ones we promote with.
    position = await withClient(
      local,
      { connectTimeoutMs: timeoutMs, queryTimeoutMs: 10_000 },
      readNodePosition,
    );
    const archive: ArchiveDrainCheck = await checkArchiveDrained(ctx, local, position, {
      dryRun: look.dryRun ?? false,
      timeoutMs: options.replayTimeoutMs ?? 60_000,
    });
    checks.push({ name: CHECK.archive, ...archive.check });
    if (archive.position) position = archive.position;
  }

  const ours = position ? { timeline: position.timeline, lsn: furthestLsn(position) } : null;
  checks.push(checkPeers(peers, ours));

  const known = maxKnown(supervisorLeaderLsn?.lsn ?? null, position?.receiver?.latestEndLsn ?? null);
  let estimatedLossBytes: bigint | null = null;
  if (ours && known !== null) {
    estimatedLossBytes = known.lsn > ours.lsn ? known.lsn - ours.lsn : 0n;
  }
  const maxLoss = BigInt(config.cluster.maxDataLossBytes);
  checks.push(
    estimatedLossBytes === null
      ? {
          name: CHECK.loss,
          ok: true,
          detail:
            "unknown: no supervisor answer and the WAL receiver is disconnected, so the leader's last position is not known beyond what this node received",
          numbers: { our_lsn: ours ? formatLsn(ours.lsn) : null, last_leader_lsn: null },
        }
      : {
          name: CHECK.loss,
          ok: estimatedLossBytes <= maxLoss,
          forceable: true,
          detail:
            estimatedLossBytes === 0n
              ? `none: this node has everything up to the last known leader position (from ${known?.source})`
              : `${estimatedLossBytes} bytes of WAL the leader had (per ${known?.source}) are not on this node${estimatedLossBytes > maxLoss ? ` (limit cluster.maxDataLossBytes=${maxLoss})` : ''}`,
          numbers: {
            loss_bytes: Number(estimatedLossBytes),
            our_lsn: ours ? formatLsn(ours.lsn) : null,
            last_leader_lsn: known ? formatLsn(known.lsn) : null,
          },
        },
  );

  return {
    checks,
    forceable: checks.filter((c) => !c.ok && c.forceable === true),
    blocking: checks.filter((c) => !c.ok && c.forceable !== true),
    local: position,
    peers,
    oldLeaders: leaderAddresses,
    estimatedLossBytes,
    advertise: options.advertise ?? advertiseConninfo(ctx, leaderAddresses[0]),
  };
}

async function readSetting(client: PgClient, name: string): Promise<string | null> {
  try {
    const { rows } = await client.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [
      name,
    ]);
    return rows[0]?.v ?? null;
  } catch {
    // Reading primary_conninfo needs superuser or pg_read_all_settings; without it we rely on config.
    return null;
  }
}

function uniqueByAddress(conninfos: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of conninfos) {
    const key = describeConninfo(c);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
  }
  return out;
}

async function checkOldLeader(addresses: string[], timeoutMs: number): Promise<CheckResult> {
  if (addresses.length === 0) {
    return {
      name: CHECK.leader,
      ok: false,
      detail:
        'no leader address known (leader.conninfo unset and no primary_conninfo): cannot prove the old leader is down; set leader.conninfo',
      forceable: true,
    };
  }
  const verdicts = await Promise.all(
    addresses.map(async (conninfo) => {
      const where = describeConninfo(conninfo);
      try {
        const inRecovery = await withClient(
          conninfo,
          { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs },
          async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r ?? false,
        );
        return { where, state: inRecovery ? ('in-recovery' as const) : ('primary' as const) };
      } catch (error) {
        const message = maskConninfo((error as Error).message);
        // A server that answered with an SQLSTATE (bad password, no pg_hba entry, unknown database,
        // starting up) is up: it may well be accepting writes, so it is not "unreachable".
        // connect() wraps the server's error: its SQLSTATE is on the cause.
        const code = sqlState(error) ?? sqlState((error as Error).cause);
        if (code !== undefined) return { where, state: 'answered' as const, error: `${code}: ${message}` };
        return { where, state: 'unreachable' as const, error: message };
      }
    }),
  );
  const primary = verdicts.find((v) => v.state === 'primary');
  if (primary) {
    return {
      name: CHECK.leader,
      ok: false,
      forceable: false,
      detail: `${primary.where} is up and accepting writes: stop or fence it first (pg_ctl stop -D <its data directory> -m fast on that host, or block it at the network); --force does not override this`,
      numbers: { leader: primary.where, state: 'primary' },
    };
  }
  const answered = verdicts.find((v) => v.state === 'answered');
  if (answered) {
    return {
      name: CHECK.leader,
      ok: false,
      forceable: false,
      detail: `${answered.where} is up but refused our query (${answered.error}), so it may be accepting writes: fix leader.conninfo so pgfollower can ask it, or stop or fence it (pg_ctl stop -D <its data directory> -m fast on that host); --force does not override this`,
      numbers: { leader: answered.where, state: 'up, state unknown' },
    };
  }
  return {
    name: CHECK.leader,
    ok: true,
    detail: verdicts
      .map((v) => `${v.where} ${v.state === 'unreachable' ? 'unreachable' : 'is in recovery (read-only)'}`)
      .join('; '),
    numbers: Object.fromEntries(verdicts.map((v) => [v.where, v.state])),
  };
}

async function checkReplay(
  ctx: Context,
  local: string,
  position: NodePosition,
  options: PromoteOptions,
): Promise<CheckResult> {
  const notes: string[] = [];
  if (position.replayPaused) {
    if (options.dryRun) notes.push('replay is paused; promote will resume it');
    else {
      ctx.reporter.step('replay is paused: resuming it (pg_wal_replay_resume)');
      await withClient(local, { connectTimeoutMs: 10_000 }, (c) => c.query('SELECT pg_wal_replay_resume()'));
      notes.push('replay was paused; resumed');
    }
  }
  const target = position.receiveLsn;
  if (target === null) {
    return {
      name: CHECK.replay,
      ok: true,
      detail: [...notes, 'nothing received by streaming since this server started'].join('; '),
      numbers: { replay_lsn: lsnText(position.replayLsn) },
    };
  }
  const timeoutMs = options.replayTimeoutMs ?? 60_000;
  let replay = position.replayLsn ?? 0n;
  if (replay < target && !options.dryRun) {
    ctx.reporter.step(
      `waiting up to ${Math.round(timeoutMs / 1000)}s for replay to reach ${formatLsn(target)}`,
    );
    const deadline = ctx.clock.now() + timeoutMs;
    replay = await withClient(local, { connectTimeoutMs: 10_000 }, async (c) => {
      let at = replay;
      while (at < target && ctx.clock.now() < deadline) {
        await delay(100, undefined, { signal: ctx.signal });
        const row = (await c.query<{ l: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS l'))
          .rows[0];
        if (row?.l) at = parseLsn(row.l);
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

export function checkPeers(peers: PeerPosition[], ours: { timeline: number; lsn: Lsn } | null): CheckResult {
  if (peers.length === 0) {
    return { name: CHECK.peers, ok: true, detail: 'no peers configured (cluster.peers or --peers)' };
  }
  const primaries = peers.filter((p) => p.ok && !p.inRecovery);
  if (primaries.length > 0) {
    return {
      name: CHECK.peers,
      ok: false,
      forceable: false,
      detail: `${primaries.map((p) => p.label).join(', ')} is already a primary: follow it (pgfollower follow --leader ...) instead of promoting a second leader`,
    };
  }
  const unreachable = peers.filter((p): p is Extract<PeerPosition, { ok: false }> => !p.ok);
  // A peer that did not say its timeline (0) is compared as if on ours: judged by LSN rather than
  // never counted as ahead.
  const reachable = peers
    .filter((p): p is Extract<PeerPosition, { ok: true }> => p.ok)
    .map((p) => (p.timeline === 0 && ours ? { ...p, timeline: ours.timeline } : p));
  const numbers: Record<string, string> = {};
  if (ours) numbers.ours = `${ours.timeline}:${formatLsn(ours.lsn)}`;
  for (const p of reachable) numbers[p.label] = `${p.timeline}:${formatLsn(p.lsn)}`;
  for (const p of unreachable) numbers[p.label] = 'unreachable';
  const ahead = ours
    ? reachable
        .filter((p) => p.timeline > ours.timeline || (p.timeline === ours.timeline && p.lsn > ours.lsn))
        .sort((a, b) => b.timeline - a.timeline || (b.lsn > a.lsn ? 1 : b.lsn < a.lsn ? -1 : 0))
    : [];
  const best = ahead[0];
  if (best && ours) {
    const bytes =
      best.timeline === ours.timeline ? `${best.lsn - ours.lsn} bytes` : `timeline ${best.timeline}`;
    return {
      name: CHECK.peers,
      ok: false,
      forceable: true,
      detail: `${best.label} is further ahead (${bytes} more): promote it instead (run pgfollower promote there), or --force to promote this node and lose that WAL`,
      numbers,
    };
  }
  if (unreachable.length > 0) {
    return {
      name: CHECK.peers,
      ok: false,
      forceable: true,
      detail: `cannot tell whether ${unreachable.map((p) => `${p.label} (${p.error})`).join(', ')} is further ahead`,
      numbers,
    };
  }
  return { name: CHECK.peers, ok: true, detail: `this node is the furthest of ${peers.length + 1}`, numbers };
}

function maxKnown(supervisor: Lsn | null, receiver: Lsn | null): { lsn: Lsn; source: string } | null {
  if (supervisor !== null && (receiver === null || supervisor >= receiver)) {
    return { lsn: supervisor, source: 'the supervisor' };
  }
  if (receiver !== null) return { lsn: receiver, source: "the WAL receiver's latest_end_lsn" };
  return null;
}

/** The leader's last position as the local supervisor saw it, if `pgfollower run` answers. */
async function readSupervisorLeaderLsn(ctx: Context): Promise<{ lsn: Lsn } | null> {
  if (!ctx.config.http.enabled) return null;
  try {
    const response = await fetch(`http://${ctx.config.http.listen}/status`, {
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(1000)]),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) return null;
    const body = (await response.json()) as Record<string, unknown>;
    // The status document's leaderLsn is the leader's position at the supervisor's last tick that
    // reached it; a lastLeaderLsn, when the supervisor keeps one across ticks, is preferred.
    const raw = body.lastLeaderLsn ?? body.leaderLsn;
    if (typeof raw !== 'string') return null;
    return { lsn: /^\d+$/.test(raw) ? BigInt(raw) : parseLsn(raw) };
  } catch {
    return null;
  }
}

/**
 * How the other nodes will reach this one: the old leader's conninfo (user, dbname, sslmode...)
 * with this host and port, never with a password.
 */
export function advertiseConninfo(ctx: Context, oldLeader: string | undefined): string {
  let info: Record<string, string>;
  try {
    info = oldLeader ? parseConninfo(oldLeader) : {};
  } catch {
    info = {};
  }
  delete info.password;
  delete info.hostaddr;
  delete info.application_name;
  return formatConninfo({ ...info, host: hostname(), port: String(ctx.config.node.port) });
}

export interface PromotionResult {
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
    const leader = await checkOldLeader(plan.oldLeaders, ctx.config.leader.connectTimeoutMs);
    if (!leader.ok) {
      throw new RefusedError(
        'not promoting: the old leader changed since the checks; nothing was changed',
        [leader],
        { hint: 'stop or fence the old leader, then run pgfollower promote again' },
      );
    }
  }
  ctx.reporter.step('promoting: SELECT pg_promote(wait => true, wait_seconds => 60)');
  const client = await connect(local, { connectTimeoutMs: 10_000 });
  try {
    const promoted = (await client.query<{ p: boolean }>('SELECT pg_promote(true, 60) AS p')).rows[0]?.p;
    if (promoted !== true) {
      throw new PgFollowerError('PROMOTE_TIMEOUT', 'pg_promote did not finish within 60 s', ExitCode.FAILED, {
        hint: 'read the server log; the node may still finish promoting: check with SELECT pg_is_in_recovery()',
      });
    }
    // A transaction that gets an xid and commits is a write: it fails with 25006 while read-only.
    const deadline = ctx.clock.now() + 30_000;
    for (;;) {
      try {
        await client.query('SELECT pg_current_xact_id()');
        break;
      } catch (error) {
        if (sqlState(error) !== '25006' || ctx.clock.now() > deadline) throw error;
        await delay(20, undefined, { signal: ctx.signal });
      }
    }
    const msToFirstWrite = ctx.clock.now() - startedAt;
    const after = await readNodePosition(client);
    if (after.inRecovery || after.timeline <= previousTimeline) {
      throw new DatabaseUnavailableError(
        `after pg_promote the node reports in_recovery=${after.inRecovery} on timeline ${after.timeline} (was ${previousTimeline})`,
        { hint: 'read the server log before doing anything else' },
      );
    }
    ctx.reporter.done(`promoted: writable on timeline ${after.timeline} after ${msToFirstWrite} ms`);

    // Settings that only mean something on a standby. restore_command stays: it is read only during
    // recovery, so it is inert on a primary, and it is what lets this node catch up from the archive
    // if it is ever rebuilt or re-pointed as a follower.
    const removedSettings: string[] = [];
    const warnings: string[] = [];
    // The node is promoted now: a failure in this tidy-up is a warning, never a failed promote
    // (exit 1 here would send the operator after a problem that does not exist, without the next steps).
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

/** What the operator runs next on every other node, exactly. */
export function describeNextSteps(plan: PromotionPlan, configHint: string): string[] {
  const leader = maskConninfo(plan.advertise);
  const lines: string[] = ['next, on the other nodes:'];
  for (const peer of plan.peers) {
    lines.push(`  on follower ${peer.label}:  pgfollower ${configHint}follow --leader '${leader}' --yes`);
  }
  if (plan.peers.length === 0) {
    lines.push(`  on every other follower:  pgfollower ${configHint}follow --leader '${leader}' --yes`);
  }
  for (const old of plan.oldLeaders) {
    lines.push(
      `  on the old leader ${describeConninfo(old)}: do NOT start it as a primary; keep it stopped, then:  pgfollower ${configHint}rebuild --leader '${leader}' --yes`,
    );
  }
  lines.push(`  everywhere: set leader.conninfo to '${leader}' in the pgfollower config`);
  return lines;
}

function lsnText(lsn: Lsn | null): string | null {
  return lsn === null ? null : formatLsn(lsn);
}
