import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import { mkdirOwned, writeFileAtomic } from '../postgres/fs-as.js';
import {
  alertNames,
  createAlertState,
  type AlertState,
  type OutboxEntry,
  type PersistedAlerts,
} from './types.js';

/**
 * Where firing alerts survive a restart: `alerts.stateFile`, else `alerts.json` beside
 * `monitor.stateFile`, else `pgfollower-alerts.json` beside (not inside: a rebuild moves the data
 * directory aside) the data directory. undefined: nothing to persist to.
 */
export function resolveAlertStateFile(config: Readonly<Config>): string | undefined {
  if (config.alerts.stateFile) return config.alerts.stateFile;
  if (config.monitor.stateFile) return join(dirname(config.monitor.stateFile), 'alerts.json');
  if (config.node.dataDirectory) return join(dirname(config.node.dataDirectory), 'pgfollower-alerts.json');
  return undefined;
}

const name = z.enum(alertNames);
const scalar = z.union([z.number(), z.string(), z.null()]);
const stateSchema = z.object({
  version: z.literal(1),
  alerts: z.partialRecord(
    name,
    z.object({
      alert: name,
      phase: z.enum(['pending', 'firing']),
      severity: z.enum(['warning', 'critical']),
      since: z.number(),
      firedAt: z.number().nullable(),
      escalatingSince: z.number().nullable(),
      clearingSince: z.number().nullable(),
      notifiedAt: z.number().nullable(),
      value: scalar,
      threshold: scalar,
      message: z.string(),
    }),
  ),
  history: z.partialRecord(name, z.object({ lastPageAt: z.number(), resolvedAt: z.number().nullable() })),
  outbox: z
    .array(
      z.object({
        notification: z.object({
          status: z.enum(['firing', 'resolved', 'event']),
          alert: z.string(),
          severity: z.enum(['info', 'warning', 'critical']),
          node: z.string(),
          value: scalar,
          threshold: scalar,
          message: z.string(),
          startsAt: z.string(),
          endsAt: z.string().optional(),
          dedupKey: z.string(),
          repeat: z.boolean().optional(),
          kind: z.enum(['alert', 'lifecycle', 'test']),
        }),
        channels: z.array(z.string()),
      }),
    )
    .optional(),
});

/**
 * Reads the persisted state. A missing file is a first start; an unreadable or malformed one is
 * logged and replaced (starting empty can at worst page once more, never stay silent).
 */
export async function loadAlertState(path: string | undefined, logger: Logger): Promise<PersistedAlerts> {
  if (!path) return createAlertState();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      logger.warn(
        { path, err: String(error) },
        `cannot read alert state ${path}; starting with no firing alerts`,
      );
    }
    return createAlertState();
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    logger.warn(
      { path },
      `alert state ${path} is not valid; starting with no firing alerts (it will be rewritten)`,
    );
    return createAlertState();
  }
  return parsed.data as PersistedAlerts;
}

/** Writes the state atomically (temp file + rename): a crash leaves the old or the new file, never half. */
export async function saveAlertState(
  path: string,
  state: AlertState,
  outbox: readonly OutboxEntry[] = [],
): Promise<void> {
  await mkdirOwned(dirname(path));
  const data: PersistedAlerts = outbox.length > 0 ? { ...state, outbox: [...outbox] } : state;
  await writeFileAtomic(path, `${JSON.stringify(data, null, 2)}\n`);
}
