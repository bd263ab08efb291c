import { hostname } from 'node:os';
import type { Context } from '../../context.js';
import type { CheckResult } from '../../errors.js';
import { localConninfo, withClient } from '../../postgres/client.js';
import { describeConninfo, formatConninfo, parseConninfo } from '../../postgres/conninfo.js';
import { furthestLsn, readNodePosition, type NodePosition } from '../../postgres/replica-state.js';
import { readLocalPosition, readSetting } from '../local-node.js';
import {
  checkArchive,
  checkDataLoss,
  checkLocalNode,
  checkOldLeader,
  checkPeers,
  checkPriority,
} from './checks.js';
import { checkCascade } from './cascade.js';
import { checkReplay } from './replay.js';
import { checkApplyDelay } from './delay.js';
import { proveZeroLoss, type ZeroLossVerdict } from './zero-loss.js';
import { judgeSyncStandby, whyNotSync } from './zero-loss-sync.js';
import { oldLeaderAddresses } from './old-leader.js';
import { readPeerPosition, readSupervisorLeaderLsn, type PeerPosition } from './peers.js';

/**
 * Guided promotion: prove it is safe (old leader not writable, nothing received left unreplayed,
 * nothing archived left unfetched, no peer further ahead, data loss estimated), then pg_promote
 * (execute.ts), verify a write on the new timeline, and tell the operator what to run on the other
 * nodes (next-steps.ts). https://www.postgresql.org/docs/current/warm-standby-failover.html
 */

interface PromoteOptions {
  /** Other followers (conninfo or pgfollower HTTP URLs); default cluster.peers. */
  peers?: readonly string[];
  dryRun?: boolean;
  /** How long to wait for received WAL (and archived WAL) to be replayed before judging. */
  replayTimeoutMs?: number;
  /** A delayed follower: lift recovery_min_apply_delay and replay everything before promoting. */
  finishReplay?: boolean;
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
  /** A planned switchover proven from the WAL (zero-loss.ts), or why it could not be. */
  zeroLoss: ZeroLossVerdict;
  advertise: string;
}

/** Runs the checks of checks.ts in order; changes nothing unless replay or the archive need a push. */
export async function checkPromotion(ctx: Context, options: PromoteOptions = {}): Promise<PromotionPlan> {
  const { config } = ctx;
  const checks: CheckResult[] = [];
  const local = localConninfo(config.node);
  const timeoutMs = config.leader.connectTimeoutMs;
  const peersWanted = options.peers && options.peers.length > 0 ? options.peers : config.cluster.peers;

  // Independent network questions run together: a promote during an incident must be quick.
  ctx.reporter.step('reading this node, the old leader, peers and the supervisor');
  const [localResult, peers, supervisorLeaderLsn] = await Promise.all([
    withClient(
      local,
      { signal: ctx.signal, connectTimeoutMs: timeoutMs, queryTimeoutMs: 10_000 },
      async (client) => {
        const position = await readNodePosition(client);
        // Reading primary_conninfo needs superuser or pg_read_all_settings; without it we rely on config.
        const primaryConninfo = await readSetting(client, 'primary_conninfo').catch(() => null);
        return { position, primaryConninfo };
      },
    ).catch((error: unknown) => error as Error),
    Promise.all(
      peersWanted.map((p) => readPeerPosition(p, { connectTimeoutMs: timeoutMs, signal: ctx.signal })),
    ),
    readSupervisorLeaderLsn(ctx),
  ]);
  // Stopped while asking: the failed connections say nothing about the nodes.
  ctx.signal.throwIfAborted();

  let position: NodePosition | null = localResult instanceof Error ? null : localResult.position;
  const primaryConninfo = localResult instanceof Error ? null : localResult.primaryConninfo;
  checks.push(
    checkLocalNode(localResult instanceof Error ? localResult : localResult.position, {
      address: describeConninfo(local),
      dataDirectory: config.node.dataDirectory,
    }),
  );

  checks.push(checkPriority(config.node.failoverPriority));

  // The old leader: every address we know it by. A reachable primary among them is the one refusal
  // that --force cannot override: two writable leaders is data loss by construction.
  // A cascaded follower's leader.conninfo is its upstream (a standby): the primary is cluster.primary.
  const leaderAddresses = oldLeaderAddresses([
    config.leader.conninfo,
    primaryConninfo,
    config.cluster.primary,
  ]);
  const leaderCheck = await checkOldLeader(leaderAddresses, timeoutMs, ctx.signal);
  checks.push(leaderCheck);
  // The upstream(s) this node streams from, unless it is the primary itself: a standby among them
  // makes this a cascaded follower (checkCascade). Asked while replay is being waited for.
  const primaryWhere = config.cluster.primary ? describeConninfo(config.cluster.primary) : null;
  const upstreamPositions = Promise.all(
    oldLeaderAddresses([config.leader.conninfo, primaryConninfo])
      .filter((c) => describeConninfo(c) !== primaryWhere)
      .map((c) => readPeerPosition(c, { connectTimeoutMs: timeoutMs, signal: ctx.signal })),
  );

  if (position?.inRecovery) {
    // With the old leader still writable nothing will be promoted: report, but change nothing
    // (no resume, no archive copy) and do not wait.
    const delay = await checkApplyDelay(ctx, local, position, {
      dryRun: !leaderCheck.ok || options.dryRun === true,
      finishReplay: options.finishReplay === true,
    });
    checks.push(delay.check);
    // WAL held back by a delay that stays would never be replayed within the wait: do not wait.
    const look = !leaderCheck.ok || delay.heldBack ? { ...options, dryRun: true } : options;
    checks.push(await checkReplay(ctx, local, position, look));
    // Re-read after the wait: the numbers below are the ones we promote with.
    position = await readLocalPosition(ctx, { connectTimeoutMs: timeoutMs });
    const archive = await checkArchive(ctx, local, position, {
      dryRun: look.dryRun ?? false,
      timeoutMs: options.replayTimeoutMs ?? 60_000,
    });
    checks.push(archive.check);
    position = archive.position;
  }

  const ours = position
    ? {
        timeline: position.timeline,
        lsn: furthestLsn(position),
        failoverPriority: config.node.failoverPriority,
      }
    : null;
  checks.push(checkPeers(peers, ours));
  checks.push(
    checkCascade(
      {
        upstreams: await upstreamPositions,
        configuredCascade: configuredCascade(config.leader.conninfo, config.cluster.primary),
        peers,
        primaryLsn: supervisorLeaderLsn?.lsn ?? null,
      },
      ours,
    ),
  );

  // Only worth reading the WAL once the old leader is known down and this node still replicates.
  // The WAL proves a clean stop; after a crash, synchronous replication may prove the same.
  let zeroLoss: ZeroLossVerdict =
    position?.inRecovery && leaderCheck.ok
      ? await proveZeroLoss(ctx, position)
      : { zeroLoss: false, reason: 'not judged: the old leader is not known to be down', lastRecord: null };
  if (!zeroLoss.zeroLoss && position?.inRecovery && leaderCheck.ok) {
    const sync = supervisorLeaderLsn?.sync ?? null;
    zeroLoss = judgeSyncStandby(sync, position) ?? {
      ...zeroLoss,
      reason: `${zeroLoss.reason}; ${whyNotSync(sync)}`,
    };
  }
  const loss = checkDataLoss(
    ours,
    { supervisor: supervisorLeaderLsn?.lsn ?? null, receiver: position?.receiver?.latestEndLsn ?? null },
    BigInt(config.cluster.maxDataLossBytes),
    zeroLoss,
  );
  checks.push(loss.check);

  return {
    checks,
    forceable: checks.filter((c) => !c.ok && c.forceable === true),
    blocking: checks.filter((c) => !c.ok && c.forceable !== true),
    local: position,
    peers,
    oldLeaders: leaderAddresses,
    estimatedLossBytes: loss.estimatedLossBytes,
    zeroLoss,
    advertise: options.advertise ?? advertiseConninfo(ctx, leaderAddresses[0]),
  };
}

/** cluster.primary names another node than leader.conninfo: this follower is set up to cascade. */
function configuredCascade(leader: string | undefined, primary: string | undefined): boolean {
  return !!leader && !!primary && describeConninfo(leader) !== describeConninfo(primary);
}

/**
 * How the other nodes will reach this one: the old leader's conninfo (user, dbname, sslmode...)
 * with this host and port, never with a password.
 */
function advertiseConninfo(ctx: Context, oldLeader: string | undefined): string {
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
