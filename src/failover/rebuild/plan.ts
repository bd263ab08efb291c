import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context } from '../../context.js';
import { requireSetting } from '../../config/required.js';
import type { CheckResult } from '../../errors.js';
import { describeConninfo } from '../../postgres/conninfo.js';
import { readControlData, serverStatus, type PgTools } from '../../postgres/cluster.js';
import { inspectDirectory, listAside } from '../../postgres/data-directory.js';
import { formatLsn } from '../../postgres/lsn.js';
import { compareTimelines, describeVerdict, type ForkVerdict } from '../../postgres/timeline.js';
import { isSameServer, readLocalFacts, requireDataDirectory } from '../local-node.js';
import { readLeaderHistory } from '../new-leader.js';
import { isStandbyDirectory } from '../../postgres/standby-config.js';

/**
 * `rebuild`: turn this node (a failed old leader, a diverged or stalled follower) into a follower
 * of the leader. pg_rewind first: it copies only the blocks that changed since the fork, which is
 * far cheaper than a full copy; it needs wal_log_hints or data checksums and a clean shutdown.
 * Otherwise (or with --clone) a fresh pg_basebackup through bootstrap, with the old directory kept
 * aside until the new one streams. Never leaves the node without a recoverable data directory: a
 * failed clone puts a standby's old directory back, or names where an old leader's directory is.
 * https://www.postgresql.org/docs/current/app-pgrewind.html
 */

export type RebuildMethod = 'rewind' | 'clone';

export interface RebuildPlan {
  leaderConninfo: string;
  dataDirectory: string;
  method: RebuildMethod;
  /** Why this method: shown before acting. */
  reasons: string[];
  checks: CheckResult[];
  directoryState: ReturnType<typeof inspectDirectory>;
  wasStandby: boolean;
  leaderTimeline: number;
  /** Directories earlier runs left aside, kept. */
  leftAside: string[];
}

export interface RebuildOptions {
  leader: string;
  clone?: boolean;
  /** Config file, so the restore_command written for the archive can find it. */
  configFile?: string | undefined;
}

/** Marker next to the data directory while pg_rewind changes it in place. */
export function rewindMarker(dataDirectory: string): string {
  return `${resolve(dataDirectory)}.rewind-in-progress`;
}

export async function planRebuild(
  ctx: Context,
  tools: PgTools,
  options: RebuildOptions,
): Promise<RebuildPlan> {
  const dataDirectory = requireDataDirectory(ctx);
  requireSetting(ctx.config.node.name, 'node.name');
  const where = describeConninfo(options.leader);
  ctx.reporter.step(`asking ${where} who it is`);
  const { identity, history } = await readLeaderHistory(ctx, options.leader);
  const checks: CheckResult[] = [];
  const reasons: string[] = [];
  checks.push({
    name: 'leader reachable',
    ok: true,
    detail: `${where}: system ${identity.systemId}, timeline ${identity.timeline}, at ${formatLsn(identity.xlogPos)}${identity.inRecovery ? ' (a standby: cascading)' : ''}`,
  });
  const directoryState = inspectDirectory(dataDirectory);
  let method: RebuildMethod = options.clone ? 'clone' : 'rewind';
  if (options.clone) reasons.push('--clone given');
  let wasStandby = false;

  if (directoryState !== 'data-directory') {
    method = 'clone';
    reasons.push(`${dataDirectory} is ${directoryState}: nothing to rewind`);
  } else {
    wasStandby = isStandbyDirectory(dataDirectory);
    const control = await readControlData(tools, dataDirectory);
    const systemId = control['Database system identifier'] ?? '';
    const hints = control['wal_log_hints setting'] === 'on';
    const checksums = (control['Data page checksum version'] ?? '0') !== '0';
    const sameSystem = systemId === identity.systemId;
    checks.push({
      name: 'same database cluster',
      ok: true,
      detail: sameSystem
        ? `system identifier ${systemId}`
        : `local ${systemId} differs from the leader's ${identity.systemId}: only a clone can help`,
    });
    if (!sameSystem) {
      method = 'clone';
      reasons.push('this directory belongs to another cluster');
    }
    if (!hints && !checksums) {
      method = 'clone';
      reasons.push('pg_rewind needs wal_log_hints=on or data checksums, and this directory has neither');
    }
    if (existsSync(rewindMarker(dataDirectory))) {
      method = 'clone';
      reasons.push(
        `an earlier pg_rewind was interrupted (${rewindMarker(dataDirectory)}): the directory is not trusted`,
      );
    }
    if (sameSystem) {
      let verdict: ForkVerdict | undefined;
      try {
        const local = await readLocalFacts(ctx, tools, dataDirectory);
        verdict = compareTimelines(local.timeline, local.lsn, identity.timeline, history);
        checks.push({ name: 'history', ok: true, detail: describeVerdict(verdict) });
        // A node on a newer timeline than the "leader" is most likely the promoted leader itself,
        // and --leader (or a stale leader.conninfo) names the old one: rebuilding would throw away
        // every write since the promotion.
        // A primary's directory on the very timeline of the "leader": nobody was promoted, so the
        // "leader" is a standby (of this node, most likely) and this node may hold commits it lacks.
        if (!wasStandby && verdict.kind === 'same-timeline') {
          checks.push({
            name: 'the leader was promoted after this node',
            ok: false,
            detail: `this node is a primary's data directory on timeline ${local.timeline}, and ${where} is on the same timeline${identity.inRecovery ? ' and still a standby' : ''}: nobody was promoted, so this node may still be the leader; promote the new leader first (pgfollower promote there), then rebuild this node from it`,
            numbers: { local_timeline: local.timeline, leader_timeline: identity.timeline },
          });
        }
        if (local.timeline > identity.timeline) {
          checks.push({
            name: 'this node is not newer than the leader',
            ok: false,
            detail: `this node is on timeline ${local.timeline}, newer than ${where}'s timeline ${identity.timeline}: it is probably the current leader and ${where} the old one; rebuild ${where} from this node instead (run pgfollower rebuild --leader <this node> on that host)`,
            numbers: { local_timeline: local.timeline, leader_timeline: identity.timeline },
          });
        }
      } catch (error) {
        // A stopped, broken directory is what rebuild is for; but a server that runs and does not
        // answer could be the current leader, and the guards above could not look.
        const running = (await serverStatus(tools, dataDirectory).catch(() => 'unknown')) === 'running';
        checks.push({
          name: 'history',
          ok: !running,
          detail: running
            ? `could not ask the local server, which is running: ${(error as Error).message}; fix node.host/node.port/node.user so pgfollower can connect, or stop it (pg_ctl stop -D ${dataDirectory} -m fast) if it is not the leader`
            : `could not compare: ${(error as Error).message}`,
        });
      }
      if (await isSameServer(ctx, options.leader)) {
        checks.push({
          name: 'leader is another server',
          ok: false,
          detail: `${where} is this very server: pass the conninfo of the new leader`,
        });
      }
      // A follower that has not diverged has nothing for pg_rewind to undo: if it is stuck, it is
      // because the WAL it needs is gone, and only a fresh copy helps (or `follow`, to re-point it).
      if (
        wasStandby &&
        (verdict?.kind === 'same-timeline' || verdict?.kind === 'can-follow') &&
        method === 'rewind'
      ) {
        method = 'clone';
        reasons.push(
          'this follower has not diverged, so pg_rewind has nothing to undo; a fresh copy replaces it (to only re-point it, run pgfollower follow instead)',
        );
      }
    }
    if (method === 'rewind')
      reasons.push(`pg_rewind possible (${hints ? 'wal_log_hints=on' : 'data checksums'})`);
  }
  return {
    leaderConninfo: options.leader,
    dataDirectory,
    method,
    reasons,
    checks,
    directoryState,
    wasStandby,
    leaderTimeline: identity.timeline,
    leftAside: listAside(dataDirectory),
  };
}
