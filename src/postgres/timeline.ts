import type { PgClient } from './client.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';

/**
 * Timelines and their history, as a standby and pg_rewind see them. A new timeline starts at a
 * promotion; its `.history` file lists, for every ancestor timeline, the LSN where it was left.
 * A node can follow a leader on timeline T only if the node's own timeline is T or an ancestor of
 * T, and it has not replayed (or received) WAL past the point where its timeline was left.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-TIMELINES
 * https://www.postgresql.org/docs/current/protocol-replication.html
 */

export interface SystemIdentity {
  systemId: string;
  timeline: number;
  /** Current WAL flush position of the server answering. */
  xlogPos: Lsn;
}

/** IDENTIFY_SYSTEM over a replication connection (`connect(conninfo, { replication: 'database' })`). */
export async function identifySystem(replication: PgClient): Promise<SystemIdentity> {
  const { rows } = await replication.query<{ systemid: string; timeline: number | string; xlogpos: string }>(
    'IDENTIFY_SYSTEM',
  );
  const row = rows[0];
  if (!row) throw new Error('IDENTIFY_SYSTEM returned no row');
  return { systemId: String(row.systemid), timeline: Number(row.timeline), xlogPos: parseLsn(row.xlogpos) };
}

interface TimelineHistoryEntry {
  /** The ancestor timeline. */
  timeline: number;
  /** First LSN that is not on `timeline` any more (the switch point to the next timeline). */
  switchLsn: Lsn;
  reason: string;
}

/** `TIMELINE_HISTORY tli`: the history file of a timeline (timeline 1 has none). */
export async function readTimelineHistory(
  replication: PgClient,
  timeline: number,
): Promise<TimelineHistoryEntry[]> {
  if (!Number.isInteger(timeline) || timeline < 1) throw new Error(`not a timeline: ${timeline}`);
  if (timeline === 1) return [];
  const { rows } = await replication.query<{ filename: string; content: string | Buffer }>(
    `TIMELINE_HISTORY ${timeline}`,
  );
  const content = rows[0]?.content;
  if (content === undefined) throw new Error(`TIMELINE_HISTORY ${timeline} returned no row`);
  return parseTimelineHistory(typeof content === 'string' ? content : content.toString('utf8'));
}

/** Parses a `.history` file: `<tli>\t<switch LSN>\t<reason>` lines, comments start with #. */
export function parseTimelineHistory(text: string): TimelineHistoryEntry[] {
  const out: TimelineHistoryEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)\s*(.*)$/.exec(line);
    if (!match) throw new Error(`not a timeline history line: "${line}"`);
    out.push({ timeline: Number(match[1]), switchLsn: parseLsn(match[2] as string), reason: match[3] ?? '' });
  }
  return out;
}

export type ForkVerdict =
  /** Same timeline as the leader: nothing forked. */
  | { kind: 'same-timeline'; timeline: number }
  /** Our timeline is an ancestor of the leader's and we stopped at or before the switch point. */
  | { kind: 'can-follow'; localTimeline: number; leaderTimeline: number; forkLsn: Lsn; marginBytes: bigint }
  /** We have WAL past the switch point: our history and the leader's differ after forkLsn. */
  | { kind: 'diverged'; localTimeline: number; leaderTimeline: number; forkLsn: Lsn; pastBytes: bigint }
  /** Our timeline is newer than the leader's or not in its history at all. */
  | { kind: 'unrelated'; localTimeline: number; leaderTimeline: number; reason: string };

/**
 * Decides whether a node at `localLsn` on `localTimeline` can stream from a leader on
 * `leaderTimeline` whose history is `history`. `localLsn` should be the furthest position the node
 * has replayed *or* received: received WAL past the fork would be replayed on restart.
 */
export function compareTimelines(
  localTimeline: number,
  localLsn: Lsn,
  leaderTimeline: number,
  history: readonly TimelineHistoryEntry[],
): ForkVerdict {
  if (localTimeline === leaderTimeline) return { kind: 'same-timeline', timeline: localTimeline };
  if (localTimeline > leaderTimeline) {
    return {
      kind: 'unrelated',
      localTimeline,
      leaderTimeline,
      reason: `this node is on timeline ${localTimeline}, newer than the leader's ${leaderTimeline}`,
    };
  }
  const entry = history.find((e) => e.timeline === localTimeline);
  if (!entry) {
    return {
      kind: 'unrelated',
      localTimeline,
      leaderTimeline,
      reason: `timeline ${localTimeline} is not in the history of the leader's timeline ${leaderTimeline}`,
    };
  }
  if (localLsn > entry.switchLsn) {
    return {
      kind: 'diverged',
      localTimeline,
      leaderTimeline,
      forkLsn: entry.switchLsn,
      pastBytes: localLsn - entry.switchLsn,
    };
  }
  return {
    kind: 'can-follow',
    localTimeline,
    leaderTimeline,
    forkLsn: entry.switchLsn,
    marginBytes: entry.switchLsn - localLsn,
  };
}

/** One line for an operator: "timeline 1 forked at 0/3000148; this node is 8192 bytes past it". */
export function describeVerdict(verdict: ForkVerdict): string {
  switch (verdict.kind) {
    case 'same-timeline':
      return `same timeline as the leader (${verdict.timeline})`;
    case 'can-follow':
      return `leader's timeline ${verdict.leaderTimeline} forked from timeline ${verdict.localTimeline} at ${formatLsn(verdict.forkLsn)}; this node is ${verdict.marginBytes} bytes before that point`;
    case 'diverged':
      return `leader's timeline ${verdict.leaderTimeline} forked from timeline ${verdict.localTimeline} at ${formatLsn(verdict.forkLsn)}; this node has ${verdict.pastBytes} bytes of WAL past that point`;
    case 'unrelated':
      return verdict.reason;
  }
}
