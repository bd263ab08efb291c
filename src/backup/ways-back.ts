import type { StatusDocument } from '../monitor/status.js';
import { parseLsn } from '../postgres/lsn.js';
import { formatEta } from '../monitor/catchup.js';
import { roundTenth, type Estimate } from './estimate.js';

/**
 * The ways back for a follower that is stalled or behind, each with its estimated time, cheapest
 * first (docs/estimates.md): keep streaming from the leader, catch up from the archive, restore the
 * newest base backup and replay the archive since, or clone the leader afresh. pg_rewind is not
 * among them: it is for a node whose timeline diverged (an old leader), not one that is behind.
 */
export type WayBack = 'stream' | 'archive' | 'backup+archive' | 're-clone';

export interface WayBackOption {
  way: WayBack;
  /** Whether the sources this way needs have the WAL, as far as the snapshot knows. */
  possible: boolean;
  seconds: number | null;
  detail: string;
}

export interface WaysBack {
  /** The possible way with the smallest known time; undefined when none is known. */
  cheapest: WayBack | undefined;
  behindBytes: number | null;
  options: WayBackOption[];
}

/** States where status names the ways back. */
export function needsWayBack(doc: Pick<StatusDocument, 'state' | 'role'>): boolean {
  return (
    doc.role === 'replica' &&
    (doc.state === 'stalled' ||
      doc.state === 'archive-recovery' ||
      doc.state === 'disconnected' ||
      doc.state === 'catching-up')
  );
}

/** Pure: from the status document and the estimate's inputs and answers. */
export function computeWaysBack(
  doc: StatusDocument,
  estimate: Estimate,
  sources: { archiveConfigured: boolean },
): WaysBack {
  const replay = estimate.inputs.replayBytesPerSecond.value;
  const leaderLsn = doc.leaderLsn ?? doc.lastLeaderLsn;
  const behindBytes =
    doc.lagBytes ??
    (leaderLsn && doc.replayLsn ? Math.max(0, Number(parseLsn(leaderLsn) - parseLsn(doc.replayLsn))) : null);
  // A running supervisor measured this catch-up (replay against the leader's writes): its ETA wins
  // over behind / p; when it sees the gap growing, neither stream nor archive catches up.
  const measured = doc.catchUp;
  const falling = measured !== null && !measured.catchingUp;
  const catchUp = measured?.catchingUp
    ? measured.etaSeconds
    : !falling && behindBytes !== null && replay
      ? behindBytes / replay
      : null;
  const never = falling ? ' (not catching up at the measured rates)' : '';
  const slotLost = doc.slot.walStatus === 'lost';
  const leaderHasIt =
    doc.leader.reachable &&
    doc.state !== 'stalled' &&
    !slotLost &&
    (doc.neededSegment === null ||
      doc.leader.oldestSegment === null ||
      doc.neededSegment.slice(8) >= doc.leader.oldestSegment.slice(8));
  // A status taken directly (no supervisor) has no archive probe: the state still tells a stall.
  const archiveHasIt =
    sources.archiveConfigured &&
    doc.state !== 'stalled' &&
    (doc.archive === null || (doc.archive.ok && doc.archive.missingSegment === null));
  const options: WayBackOption[] = [
    {
      way: 'stream',
      possible: leaderHasIt,
      seconds: leaderHasIt ? roundTenth(catchUp) : null,
      detail: leaderHasIt
        ? `the leader still has the WAL this follower needs: let it stream${never}`
        : doc.leader.reachable
          ? 'the leader no longer has the WAL this follower needs'
          : 'the leader does not answer',
    },
    {
      way: 'archive',
      possible: archiveHasIt,
      seconds: archiveHasIt ? roundTenth(catchUp) : null,
      detail: archiveHasIt
        ? `replay the missing WAL from the archive (restore_command), then stream${never}`
        : !sources.archiveConfigured
          ? 'no archive configured'
          : `the archive lacks ${doc.archive?.missingSegment ?? doc.neededSegment ?? 'the next segment'}`,
    },
    {
      way: 'backup+archive',
      possible: estimate.inputs.backupBytes.value !== null,
      seconds: estimate.restoreFromArchiveSeconds,
      detail:
        estimate.inputs.backupBytes.value !== null
          ? 'pgfollower rebuild --from-archive: restore the newest base backup, replay the archive since'
          : 'no complete base backup in the archive',
    },
    {
      way: 're-clone',
      possible: doc.leader.reachable,
      seconds: doc.leader.reachable ? estimate.rebuildFromLeaderSeconds : null,
      detail: doc.leader.reachable
        ? 'pgfollower rebuild --clone: copy the leader afresh (load on the leader)'
        : 'the leader does not answer',
    },
  ];
  const known = options.filter((o) => o.possible && o.seconds !== null);
  const cheapest = known.reduce<WayBackOption | undefined>(
    (best, o) => (best === undefined || (o.seconds as number) < (best.seconds as number) ? o : best),
    undefined,
  );
  return { cheapest: cheapest?.way, behindBytes, options };
}

/** Lines `status` prints under the summary. */
export function formatWaysBack(ways: WaysBack): string[] {
  const lines = ['  ways back (estimated):'];
  for (const o of ways.options) {
    const time = o.seconds === null ? 'time unknown' : formatEta(o.seconds);
    const mark = o.way === ways.cheapest ? ' <- cheapest' : '';
    lines.push(`    ${o.way.padEnd(14)} ${o.possible ? time : 'not possible'}: ${o.detail}${mark}`);
  }
  if (ways.cheapest === undefined)
    lines.push('    no way back has a known time: pgfollower estimate lists the missing inputs');
  return lines;
}
