import { formatLsn } from '../../postgres/lsn.js';
import type { NodePosition } from '../../postgres/replica-state.js';
import type { SupervisorSyncView } from './peers.js';
import type { ZeroLossVerdict } from './zero-loss.js';

/**
 * After a crash there is no shutdown checkpoint to read, but synchronous replication proves the
 * same thing: with this node a synchronous standby (pg_stat_replication.sync_state `sync`: every
 * commit waits for it; `quorum` does not, a commit may wait for another member only) and
 * synchronous_commit `on` (remote_flush) or `remote_apply`, no commit was acknowledged to a client
 * before its WAL was flushed here. With everything received replayed, no acknowledged commit is
 * lost. The evidence is the local supervisor's last look at the leader (lastLeaderSync on its
 * /status), so the proof names when that was. A transaction that set synchronous_commit lower
 * for itself is outside the proof. https://www.postgresql.org/docs/current/warm-standby.html#SYNCHRONOUS-REPLICATION
 */
export function judgeSyncStandby(
  sync: SupervisorSyncView | null,
  position: NodePosition,
): ZeroLossVerdict | null {
  if (!sync || sync.syncState !== 'sync') return null;
  const commit = sync.synchronousCommit;
  if (commit !== 'on' && commit !== 'remote_apply') return null;
  const received = position.receiveLsn ?? position.receiver?.flushedLsn ?? null;
  const replayed = position.replayLsn;
  if (received === null || replayed === null || replayed < received) return null;
  return {
    zeroLoss: true,
    proof: {
      method: 'synchronous-standby',
      syncState: sync.syncState,
      synchronousCommit: commit,
      synchronousStandbyNames: sync.standbyNames,
      observedAt: sync.seenAt,
      receiveLsn: formatLsn(received),
      replayLsn: formatLsn(replayed),
      timeline: position.timeline,
    },
  };
}

/** Why the synchronous proof does not hold, to add to the WAL proof's reason. */
export function whyNotSync(sync: SupervisorSyncView | null): string {
  if (!sync) return 'no supervisor observation of synchronous replication (pgfollower run not answering)';
  if (sync.syncState !== 'sync')
    return `this node was not a synchronous standby when the supervisor last saw the leader (sync_state ${sync.syncState ?? 'none'})`;
  return `synchronous_commit was ${sync.synchronousCommit ?? 'unknown'} (at least remote_flush, i.e. on, is needed)`;
}

type Proof = Extract<ZeroLossVerdict, { zeroLoss: true }>['proof'];

/** One line saying which proof holds, for the loss check and promote's summary. */
export function describeProof(proof: Proof): string {
  return proof.method === 'shutdown-checkpoint'
    ? `the old leader's shutdown checkpoint at ${proof.recordLsn} is the last WAL received, and it is replayed`
    : `this node was a synchronous standby (sync_state ${proof.syncState}, synchronous_commit ${proof.synchronousCommit}${proof.observedAt ? `, as the supervisor saw at ${proof.observedAt}` : ''}): every acknowledged commit was flushed here, and all received WAL (${proof.receiveLsn}) is replayed`;
}
