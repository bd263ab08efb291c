import { formatDurationMs } from '../config/units.js';
import type { Lag, LeaderSample, LocalSample, SlotForecast, Sourced } from './snapshot.js';

/**
 * Lag in bytes and seconds that an idle leader or a stopped receiver cannot fool.
 *
 * "now() - pg_last_xact_replay_timestamp()" grows on an idle leader and reads 0 when receive ==
 * replay even if receiving stopped (repmgr issue 519). Instead we remember when the leader's LSN
 * was first seen beyond a position: the replay lag in seconds is how long ago the leader first
 * had WAL that this follower has still not replayed. An idle leader whose WAL is all replayed has
 * lag 0; a follower whose receiver stopped while the leader writes has a growing lag.
 */
export class LagTracker {
  /** Leader LSN samples (local clock), strictly increasing in LSN. */
  private history: Array<{ at: number; lsn: bigint }> = [];
  private readonly maxEntries: number;

  constructor(options: { maxEntries?: number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  /**
   * `applyDelayMs` (node.applyDelay, recovery_min_apply_delay) is discounted: a delayed follower is
   * not lagging by its delay. Replay lag then counts from where the leader was `applyDelayMs` ago,
   * never less than the receive lag (WAL not on this node yet is real lag whatever the delay).
   */
  compute(
    takenAt: number,
    local: Sourced<LocalSample>,
    leader: Sourced<LeaderSample>,
    applyDelayMs = 0,
  ): Lag {
    const undelayed = this.computeUndelayed(takenAt, local, leader);
    if (applyDelayMs <= 0 || !local.ok || local.value.replayLsn === null) return undelayed;
    const seconds =
      undelayed.replayLagSeconds === null
        ? null
        : Math.max(0, undelayed.replayLagSeconds - applyDelayMs / 1000);
    const asOf = this.leaderLsnAsOf(takenAt - applyDelayMs);
    const receive = undelayed.receiveLagBytes;
    let bytes: bigint | null;
    if (asOf !== null) bytes = positive(asOf - local.value.replayLsn);
    else if (seconds === 0) bytes = 0n;
    else bytes = undelayed.replayLagBytes;
    if (bytes !== null && receive !== null && receive > bytes) bytes = receive;
    return {
      replayLagBytes: bytes,
      receiveLagBytes: receive,
      replayLagSeconds: seconds,
      delay: {
        applyDelayMs,
        replayLagBytes: undelayed.replayLagBytes,
        replayLagSeconds: undelayed.replayLagSeconds,
      },
    };
  }

  /** The leader's LSN at `at` (local clock), when our history reaches back that far. */
  private leaderLsnAsOf(at: number): bigint | null {
    let found: bigint | null = null;
    for (const sample of this.history) {
      if (sample.at > at) break;
      found = sample.lsn;
    }
    return found;
  }

  private computeUndelayed(takenAt: number, local: Sourced<LocalSample>, leader: Sourced<LeaderSample>): Lag {
    if (leader.ok) this.observeLeader(takenAt, leader.value.currentLsn);
    if (!local.ok || !local.value.inRecovery) {
      return { replayLagBytes: null, receiveLagBytes: null, replayLagSeconds: null };
    }
    const { replayLsn, receiveLsn } = local.value;
    const leaderLsn = leader.ok ? leader.value.currentLsn : null;
    const replayLagBytes = leaderLsn !== null && replayLsn !== null ? positive(leaderLsn - replayLsn) : null;
    // A receiver that has received nothing since startup reports null: then it is as far behind as replay.
    // Replay past the received position (archive recovery) counts as received too.
    const received =
      replayLsn !== null && (receiveLsn === null || receiveLsn < replayLsn) ? replayLsn : receiveLsn;
    const receiveLagBytes = leaderLsn !== null && received !== null ? positive(leaderLsn - received) : null;
    return {
      replayLagBytes,
      receiveLagBytes,
      replayLagSeconds: this.secondsBehind(takenAt, local.value, leader, replayLagBytes),
    };
  }

  private observeLeader(at: number, lsn: bigint): void {
    const last = this.history[this.history.length - 1];
    if (last && lsn < last.lsn) {
      // One server's WAL position never goes back: this is another leader (failover, a promoted
      // standby that was behind). The old leader's history would date lag from its positions.
      this.history = [{ at, lsn }];
      return;
    }
    if (last && lsn === last.lsn) return;
    this.history.push({ at, lsn });
    if (this.history.length > this.maxEntries) this.history.splice(0, this.history.length - this.maxEntries);
  }

  private secondsBehind(
    takenAt: number,
    local: LocalSample,
    leader: Sourced<LeaderSample>,
    replayLagBytes: bigint | null,
  ): number | null {
    const replayLsn = local.replayLsn;
    if (replayLsn === null) return null;
    if (replayLagBytes === 0n) {
      this.forgetUpTo(replayLsn);
      return 0;
    }
    this.forgetUpTo(replayLsn);
    // Leader unreachable: where it is now is unknown, so is the lag (the last known position would
    // read 0 for a partitioned follower while the leader writes on, and /replica?seconds= would pass).
    if (!leader.ok) return null;
    const first = this.history[0];
    if (!first) return null;
    if (first.lsn <= replayLsn) {
      // We saw the leader pass the replay position: the next sample is when it was first beyond it.
      const beyond = this.history[1];
      return beyond ? Math.max(0, (takenAt - beyond.at) / 1000) : 0;
    }
    // Behind since before we started watching (the first tick, and every one-shot status/check).
    // The leader's own measure comes first: pg_stat_replication.replay_lag is the age of the WAL
    // this standby last replayed. The last replayed commit is only an upper bound: a leader that
    // writes WAL without commits (a long bulk load, vacuum) leaves it hours old while the follower
    // is a few kB behind. Never less than what we watched ourselves.
    const watched = Math.max(0, (takenAt - first.at) / 1000);
    const leaderSays = leader.value.replication?.replayLagSeconds ?? null;
    if (leaderSays !== null) return Math.max(watched, leaderSays);
    if (local.lastReplayTimestamp !== null) {
      return Math.max(watched, (leader.value.leaderNow - local.lastReplayTimestamp) / 1000);
    }
    // Behind, but since when is unknown (first look, no replayed commit yet): say so, not 0.
    return watched > 0 ? watched : null;
  }

  /** Keeps one sample at or below the replay position, drops older ones. */
  private forgetUpTo(replayLsn: bigint): void {
    let drop = 0;
    while (drop + 1 < this.history.length && (this.history[drop + 1]?.lsn ?? Infinity) <= replayLsn) drop++;
    if (drop > 0) this.history.splice(0, drop);
  }
}

function positive(value: bigint): bigint {
  return value < 0n ? 0n : value;
}

/**
 * How fast this follower's slot makes the leader retain WAL, and when that would hit the limit
 * (max_slot_wal_keep_size, via safe_wal_size). The leader's free disk is not visible over SQL, so
 * without that setting the forecast gives growth only and says so.
 */
export class SlotForecaster {
  private samples: Array<{ at: number; retained: bigint }> = [];

  constructor(private readonly windowMs = 60_000) {}

  compute(takenAt: number, leader: Sourced<LeaderSample>): SlotForecast | null {
    if (!leader.ok) return null;
    const slot = leader.value.slot;
    if (!slot?.exists || slot.restartLsn === null) {
      this.samples = [];
      return null;
    }
    const retained = positive(leader.value.currentLsn - slot.restartLsn);
    this.samples.push({ at: takenAt, retained });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? takenAt) < takenAt - this.windowMs) {
      this.samples.shift();
    }
    const first = this.samples[0];
    const growth =
      first && takenAt > first.at ? Number(retained - first.retained) / ((takenAt - first.at) / 1000) : null;
    const limited =
      leader.value.maxSlotWalKeepSizeBytes !== null && leader.value.maxSlotWalKeepSizeBytes !== undefined;
    const headroom = limited ? slot.safeWalSizeBytes : null;
    return {
      retainedBytes: retained,
      growthBytesPerSecond: growth,
      headroomBytes: headroom,
      secondsUntilFull:
        headroom !== null && growth !== null && growth > 0 ? Math.max(0, Number(headroom) / growth) : null,
      limit: limited ? 'max_slot_wal_keep_size' : null,
    };
  }
}

/** A delayed follower's lag is judged beyond its delay (never below its receive lag): alerts say so. */
export function applyDelayClause(lag: Lag): string {
  return lag.delay ? ` beyond its apply delay of ${formatDurationMs(lag.delay.applyDelayMs)}` : '';
}
