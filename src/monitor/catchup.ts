import type { CatchUp, FollowerState, Lag, LeaderSample, LocalSample, Sourced } from './snapshot.js';

/**
 * When a follower that is behind will be caught up, and what limits it, from rates measured over a
 * window of ticks: the leader's WAL generation, this follower's receive and its replay.
 *
 * "Caught up" is the point where the state turns back to `streaming`: replay lag at or below
 * monitor.catchingUpBytes. The lag closes at (replay rate - leader rate); when that is not positive
 * the follower is not catching up. Nothing is guessed: without two samples spanning `minSpanMs`, or
 * without the leader's position, the estimate is unknown (null), never a made-up figure.
 */
interface CatchUpOptions {
  /** Rates are measured over the samples of the last windowMs. */
  windowMs: number;
  /** No estimate before the samples span this long (two ticks are noise). */
  minSpanMs: number;
  /**
   * Replay standing still this long is a hold (paused, recovery_min_apply_delay, no WAL), not a
   * hiccup (one segment fetch): the window starts again, and again when replay moves after it.
   */
  holdMs: number;
  catchingUpBytes: number;
}

interface Sample {
  at: number;
  leader: bigint;
  received: bigint;
  replay: bigint;
}

/** Estimates are made in these states only: a follower that is behind and gets WAL from somewhere. */
const behindStates: readonly FollowerState[] = ['catching-up', 'archive-recovery'];

export class CatchUpEstimator {
  private samples: Sample[] = [];
  /** Replay stood still for holdMs: the window holds only the still samples. */
  private held = false;

  constructor(private readonly options: CatchUpOptions) {}

  /**
   * Records this tick's positions and returns the estimate for `state` (already classified). Call
   * once per tick, in order; a one-shot status gets null (a single look measures no rate).
   */
  compute(
    takenAt: number,
    local: Sourced<LocalSample>,
    leader: Sourced<LeaderSample>,
    lag: Lag,
    state: FollowerState,
    spooledSegments: number | null,
  ): CatchUp | null {
    const sample = this.observe(takenAt, local, leader);
    if (sample === null || !behindStates.includes(state) || lag.replayLagBytes === null) return null;
    const rates = this.rates();
    if (rates === null) return null;
    const pendingReplay = Number(sample.received - sample.replay);
    const pendingReceive = Number(sample.leader - sample.received);
    const limitedBy: CatchUp['limitedBy'] =
      state === 'archive-recovery'
        ? spooledSegments === null
          ? null
          : spooledSegments > 0
            ? 'replay'
            : 'fetch'
        : local.ok && local.value.replayPaused
          ? 'replay'
          : pendingReplay >= pendingReceive
            ? 'replay'
            : 'network';
    const closing = rates.replay - rates.leader;
    const remaining = Math.max(0, Number(lag.replayLagBytes) - this.options.catchingUpBytes);
    // A closing rate below 1 byte/s is standing still: an ETA of centuries is no estimate.
    const catchingUp = closing >= 1;
    return {
      catchingUp,
      etaSeconds: catchingUp ? remaining / closing : null,
      limitedBy,
      leaderBytesPerSecond: rates.leader,
      receiveBytesPerSecond: rates.receive,
      replayBytesPerSecond: rates.replay,
      windowSeconds: rates.spanMs / 1000,
    };
  }

  private observe(at: number, local: Sourced<LocalSample>, leader: Sourced<LeaderSample>): Sample | null {
    const replay = local.ok && local.value.inRecovery ? local.value.replayLsn : null;
    if (replay === null || !leader.ok || !local.ok) {
      // Either end unknown: rates across the gap would mix two regimes (a restart, an outage).
      this.samples = [];
      this.held = false;
      return null;
    }
    const receive = local.value.receiveLsn;
    // Replay past the receive position (archive recovery) counts as received, as in the lag maths.
    const received = receive === null || receive < replay ? replay : receive;
    const sample: Sample = { at, leader: leader.value.currentLsn, received, replay };
    const last = this.samples[this.samples.length - 1];
    // A position that went back is another server (a new leader, a restored follower): start over.
    if (last && (sample.leader < last.leader || sample.replay < last.replay || at <= last.at)) {
      this.samples = [];
      this.held = false;
    }
    this.samples.push(sample);
    while ((this.samples[0]?.at ?? at) < at - this.options.windowMs) this.samples.shift();
    this.splitAtRegimeChange(sample);
    return sample;
  }

  /**
   * Replay that stood still for holdMs (paused, held by recovery_min_apply_delay, waiting for WAL)
   * and replay that runs are two regimes: a window mixing them would average a stop into the speed
   * (an ETA of minutes for a backlog replayed in a second) or keep counting down after replay stopped.
   * So the window starts again at the change; a short stand (one segment fetch) is not one.
   */
  private splitAtRegimeChange(last: Sample): void {
    let stillFrom = this.samples.length - 1;
    while (stillFrom > 0 && this.samples[stillFrom - 1]?.replay === last.replay) stillFrom--;
    const stillFirst = this.samples[stillFrom];
    if (stillFirst && last.at - stillFirst.at >= this.options.holdMs) {
      this.samples = this.samples.slice(stillFrom);
      this.held = true;
    } else if (this.held && stillFrom === this.samples.length - 1 && this.samples.length >= 2) {
      // Replay moves again after a hold: measure from the last still sample.
      this.samples = this.samples.slice(-2);
      this.held = false;
    }
  }

  private rates(): { leader: number; receive: number; replay: number; spanMs: number } | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < this.options.minSpanMs) return null;
    const seconds = (last.at - first.at) / 1000;
    const rate = (from: bigint, to: bigint): number => Math.max(0, Number(to - from) / seconds);
    return {
      leader: rate(first.leader, last.leader),
      receive: rate(first.received, last.received),
      replay: rate(first.replay, last.replay),
      spanMs: last.at - first.at,
    };
  }
}

/**
 * "~45 s", "~96 s", "~4 min", "~2.5 h": an estimate, rounded as one. Seconds up to two minutes, so
 * estimates compared side by side (status's ways back) stay apart.
 */
export function formatEta(seconds: number): string {
  if (seconds < 1) return '<1 s';
  if (seconds < 120) return `~${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `~${Math.round(seconds / 60)} min`;
  const hours = seconds / 3600;
  return `~${hours < 10 ? Math.round(hours * 10) / 10 : Math.round(hours)} h`;
}

const limitText: Record<NonNullable<CatchUp['limitedBy']>, string> = {
  replay: 'replay (single-threaded apply)',
  fetch: 'archive fetch',
  network: 'network or leader (WAL arrives no faster)',
};

/**
 * One phrase for status, check and alerts: "will be caught up in ~4 min (limited by replay ...)",
 * "not catching up: falling further behind (...)". null when there is nothing to say.
 */
export function describeCatchUp(c: CatchUp | null | undefined): string | null {
  if (!c) return null;
  const mb = (v: number): string => `${(v / 1048576).toFixed(1)} MB/s`;
  const rates = `replay ${mb(c.replayBytesPerSecond)}, leader writes ${mb(c.leaderBytesPerSecond)}`;
  const limit = c.limitedBy ? `limited by ${limitText[c.limitedBy]}; ` : '';
  if (c.catchingUp && c.etaSeconds !== null)
    return `will be caught up in ${formatEta(c.etaSeconds)} (${limit}${rates})`;
  const trend =
    c.replayBytesPerSecond < c.leaderBytesPerSecond ? 'falling further behind' : 'not closing the gap';
  return `not catching up: ${trend} (${limit}${rates})`;
}

/** `describeCatchUp` as a clause to append to a sentence ("; will be caught up in ~4 min ..."), or ''. */
export function catchUpClause(c: CatchUp | null | undefined): string {
  const text = describeCatchUp(c);
  return text === null ? '' : `; ${text}`;
}
