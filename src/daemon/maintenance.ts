import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { writeFileAtomic } from '../postgres/fs-as.js';

/**
 * Maintenance mode (`pgfollower maintenance on|off`): the supervisor keeps monitoring, but alerts
 * are held (every held notification says so) and slot repair waits. The command writes a small
 * file the running supervisor reads; it ends by itself at `until`, so a forgotten window cannot
 * silence a node for good.
 */
interface Maintenance {
  since: number;
  until: number;
  reason: string | null;
}

/** Beside the alert state: monitor.stateFile's directory, else beside the data directory. */
export function resolveMaintenanceFile(config: Readonly<Config>): string | undefined {
  if (config.monitor.stateFile) return join(dirname(config.monitor.stateFile), 'maintenance.json');
  if (config.node.dataDirectory)
    return join(dirname(config.node.dataDirectory), 'pgfollower-maintenance.json');
  return undefined;
}

/** The window in force at `now`, or null (none, ended, or unreadable: never hold by accident). */
export function readMaintenance(file: string | undefined, now: number): Maintenance | null {
  if (!file) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  const m = parsed as Partial<Record<keyof Maintenance, unknown>>;
  const since = typeof m.since === 'string' ? Date.parse(m.since) : NaN;
  const until = typeof m.until === 'string' ? Date.parse(m.until) : NaN;
  if (!Number.isFinite(since) || !Number.isFinite(until) || until <= now) return null;
  return { since, until, reason: typeof m.reason === 'string' ? m.reason : null };
}

export async function startMaintenance(file: string, window: Maintenance): Promise<void> {
  const body = {
    since: new Date(window.since).toISOString(),
    until: new Date(window.until).toISOString(),
    reason: window.reason,
  };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`);
}

export async function endMaintenance(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** What a held notification and a log line say. */
export function describeMaintenance(m: Maintenance): string {
  return `maintenance until ${new Date(m.until).toISOString()}${m.reason ? ` (${m.reason})` : ''}`;
}
