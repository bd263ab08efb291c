import type { Context } from '../context.js';
import type { FollowerState, Snapshot } from './snapshot.js';

/**
 * Typed supervisor events. Status, metrics, alerts and tests subscribe to these instead of
 * polling or running SQL of their own.
 */
export interface SupervisorEvents {
  /** Every tick. */
  snapshot: [snapshot: Snapshot];
  'state:change': [change: { from: FollowerState | null; to: FollowerState; snapshot: Snapshot }];
  'lag:sample': [sample: { snapshot: Snapshot }];
  'slot:lost': [info: { slot: string; snapshot: Snapshot }];
  'slot:recreated': [info: { slot: string; restartLsn: string | null }];
  'wal:archive-fallback': [info: { segment: string | null; snapshot: Snapshot }];
  'wal:stalled': [info: { segment: string | null; snapshot: Snapshot }];
  'leader:unreachable': [info: { error: string; retryInMs: number }];
  'local:unreachable': [info: { error: string; retryInMs: number }];
  /** The supervisor swapped in a reloaded config (SIGHUP); services read handle.context.config. */
  'config:reload': [info: { config: Context['config'] }];
  /** The supervisor is stopping (before services stop). */
  'supervisor:stopping': [info: { reason: string }];
  /** Lifecycle notices from commands (bootstrap done, promote done, follow, rebuild). */
  lifecycle: [info: { kind: 'bootstrap' | 'promote' | 'follow' | 'rebuild'; node: string; message: string }];
}
