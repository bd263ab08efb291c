import type { Context } from '../context.js';
import { parseConninfo, withApplicationName } from '../postgres/conninfo.js';
import { applyDelaySettings, writeStandbyConfig, type GucValue } from '../postgres/standby-config.js';

/**
 * The standby settings of this node, written into a data directory: by bootstrap into its fresh
 * copy (and so by rebuild's clone) and by rebuild after pg_rewind, which copied the leader's
 * configuration over ours. One writer, so both ways of rebuilding leave the same primary_conninfo.
 */
export async function writeFollowerConfig(
  ctx: Context,
  dataDirectory: string,
  leaderConninfo: string,
  options: { restoreCommand?: string | undefined; extra?: Record<string, GucValue> } = {},
): Promise<void> {
  const { node, slot } = ctx.config;
  if (process.env.PGPASSWORD && !parseConninfo(leaderConninfo).password) {
    ctx.reporter.warn(
      `PGPASSWORD is not written into primary_conninfo (secrets never are): give the ${ctx.exec.runAs?.user ?? 'PostgreSQL'} OS user a ~/.pgpass line for the leader, or the follower cannot log in after a restart`,
    );
  }
  await writeStandbyConfig(
    dataDirectory,
    {
      primaryConninfo: withApplicationName(leaderConninfo, node.name),
      slotName: slot.enabled ? slot.name : undefined,
      restoreCommand: options.restoreCommand,
      port: node.port,
      extra: {
        ...(node.host.startsWith('/') ? { unix_socket_directories: node.host } : {}),
        ...applyDelaySettings(node.applyDelay),
        ...options.extra,
      },
    },
    ctx.exec.runAs,
  );
}
