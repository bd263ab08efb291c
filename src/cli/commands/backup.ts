import { formatBytes } from '../../config/units.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';
import { formatChecklist } from '../format.js';
import { tablespacesOf } from '../../backup/layout.js';

/**
 * `pgfollower backup [--json]`: a base backup of this follower (or the leader, backup.source) into
 * the archive. Subcommands: `list`, `verify [ID]`, `expire [--dry-run]` (docs/backups.md).
 */
export const registerBackup: RegisterCommand = (program, env) => {
  // program.command (not new Command + addCommand) so it inherits exitOverride and the output routing.
  const backup = program
    .command('backup')
    .description('take a base backup into the archive (list, verify, expire: see subcommands)')
    .option('--source <where>', 'local (this follower, default backup.source) or leader')
    .option('--max-rate <rate>', 'limit the copy, as pg_basebackup --max-rate (e.g. 100M)')
    .option('--json', 'print the backup descriptor as JSON')
    .action(async (flags: { source?: string; maxRate?: string; json?: boolean }) => {
      const ctx = await env.context({
        overrides: { backup: { source: flags.source } },
      });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { takeBackup } = await import('../../backup/take.js');
      const store = openArchiveStore(ctx.config);
      try {
        const result = await takeBackup(ctx, store, { maxRate: flags.maxRate });
        if (flags.json) {
          env.output.json(result);
          return;
        }
        env.output.print(
          `backup ${result.id} complete: ${formatBytes(result.rawBytes)} stored as ${formatBytes(result.storedBytes)} in ${result.parts.length} part(s) (${result.codec}), ` +
            `${result.startLsn} .. ${result.endLsn} on timeline ${result.endTimeline}, copied in ${(result.copyMs / 1000).toFixed(1)} s`,
        );
        for (const t of tablespacesOf(result))
          env.output.print(
            `  tablespace ${t.name} (OID ${t.oid}) at ${t.location}: ${formatBytes(t.rawBytes)}`,
          );
        env.output.print(
          `next: pgfollower backup verify ${result.id}; restore with pgfollower bootstrap --from-archive${tablespacesOf(result).length > 0 ? ' [--tablespace-mapping OLD=NEW]' : ''}`,
        );
      } finally {
        store.close();
      }
    });

  // Commander gives `backup list --json` to the parent's --json (global options are read after
  // subcommands too): a subcommand asks both.
  const wantsJson = (flags: { json?: boolean }): boolean =>
    flags.json === true || backup.opts<{ json?: boolean }>().json === true;

  backup
    .command('list')
    .description('the backups in the archive, oldest first (incomplete ones marked)')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const ctx = await env.context({ needBinaries: false });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { listBackups } = await import('../../backup/list.js');
      const store = openArchiveStore(ctx.config);
      try {
        const backups = await listBackups(store, ctx.signal);
        if (wantsJson(flags)) {
          env.output.json(
            backups.map((b) => ({
              id: b.id,
              complete: b.complete,
              ...(b.descriptor
                ? {
                    startLsn: b.descriptor.startLsn,
                    endLsn: b.descriptor.endLsn,
                    timeline: b.descriptor.endTimeline,
                    rawBytes: b.descriptor.rawBytes,
                    storedBytes: b.descriptor.storedBytes,
                    codec: b.descriptor.codec,
                    finishedAt: b.descriptor.finishedAt,
                    walFiles: b.descriptor.walFiles.length,
                    node: b.descriptor.node,
                    tablespaces: tablespacesOf(b.descriptor).map((t) => ({
                      oid: t.oid,
                      name: t.name,
                      location: t.location,
                      rawBytes: t.rawBytes,
                      storedBytes: t.storedBytes,
                    })),
                  }
                : {}),
            })),
          );
          return;
        }
        if (backups.length === 0) {
          env.output.print(`no backups in ${store.description}`);
          return;
        }
        env.output.print(`backups in ${store.description}:`);
        for (const b of backups) {
          const d = b.descriptor;
          env.output.print(
            d
              ? `  ${b.id}  ${formatBytes(d.rawBytes).padStart(9)} (stored ${formatBytes(d.storedBytes)})  ${d.startLsn} .. ${d.endLsn}  timeline ${d.endTimeline}  from ${d.node ?? '?'} (${d.backupFrom})`
              : `  ${b.id}  INCOMPLETE (no backup.json: being taken, or abandoned; backup expire removes it once a newer backup completes)`,
          );
          for (const t of d ? tablespacesOf(d) : [])
            env.output.print(
              `      tablespace ${t.name} (OID ${t.oid}) at ${t.location}: ${formatBytes(t.rawBytes)} (stored ${formatBytes(t.storedBytes)})`,
            );
        }
      } finally {
        store.close();
      }
    });

  backup
    .command('verify')
    .description(
      'restore a backup into a scratch directory and run pg_verifybackup with its manifest and archived WAL',
    )
    .argument('[id]', 'backup id (default: the newest complete backup)')
    .option('--scratch-directory <dir>', 'where to restore the copy (default: the system temp directory)')
    .option('--json', 'print the result as JSON')
    .action(async (id: string | undefined, flags: { scratchDirectory?: string; json?: boolean }) => {
      const ctx = await env.context({});
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { verifyBackup } = await import('../../backup/verify.js');
      const store = openArchiveStore(ctx.config);
      try {
        const result = await verifyBackup(ctx, store, { id, scratchDirectory: flags.scratchDirectory });
        if (wantsJson(flags)) env.output.json(result);
        else {
          env.output.print(`backup ${result.id}:`);
          env.output.print(formatChecklist(result.checks));
          env.output.print(
            result.ok
              ? `ok: backup ${result.id} restores and verifies (${(result.durationMs / 1000).toFixed(1)} s)`
              : `FAILED: backup ${result.id} cannot be trusted; take a new one (pgfollower backup) and restore from another (--backup ID)`,
          );
        }
        if (!result.ok) env.setExitCode(ExitCode.FAILED);
      } finally {
        store.close();
      }
    });

  backup
    .command('expire')
    .description('remove backups beyond backup.keep and the WAL no kept backup, follower or slot needs')
    .option('--dry-run', 'print what would be removed; remove nothing')
    .option('--keep <n>', 'keep this many complete backups (default backup.keep)', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--json', 'print the plan (and result) as JSON')
    .action(async (flags: { dryRun?: boolean; keep?: number; json?: boolean }) => {
      if (flags.keep !== undefined && !(Number.isInteger(flags.keep) && flags.keep >= 1)) {
        throw new UsageError('--keep must be a whole number of at least 1');
      }
      const ctx = await env.context({ needBinaries: false });
      const { openArchiveStore } = await import('../../archive/store/open-store.js');
      const { executeExpire, planExpire } = await import('../../backup/expire.js');
      const store = openArchiveStore(ctx.config);
      const out = env.output;
      try {
        const plan = await planExpire(ctx, store, { keep: flags.keep });
        if (!wantsJson(flags)) {
          out.print(
            `retention in ${store.description}: keep the newest ${plan.keepCount} complete backup(s)`,
          );
          if (plan.note) out.print(plan.note);
          out.print(`kept: ${plan.kept.join(', ') || 'none'}`);
          for (const p of plan.protections) out.print(`  WAL needed from ${p.segment} by ${p.by} (${p.lsn})`);
          for (const b of plan.removeBackups)
            out.print(
              `${flags.dryRun ? 'would remove' : 'removing'} backup ${b.id}${b.complete ? '' : ' (incomplete)'}: ${b.keys.length} object(s)`,
            );
          for (const f of plan.removeLeftovers)
            out.print(
              `${flags.dryRun ? 'would remove' : 'removing'} leftover folder basebackups/${f.id}/: no backup, only ${f.keys.length} metadata sidecar(s) of parts removed earlier`,
            );
          out.print(
            plan.removeWal.length > 0
              ? `${flags.dryRun ? 'would remove' : 'removing'} ${plan.removeWal.length} WAL file(s) before ${plan.oldestNeededSegment}: ${plan.removeWal[0]} .. ${plan.removeWal.at(-1)} (.history files are always kept)`
              : 'no WAL file to remove',
          );
        }
        if (flags.dryRun) {
          if (wantsJson(flags)) out.json({ plan, dryRun: true });
          else out.print('dry run: nothing was removed');
          return;
        }
        const result = await executeExpire(ctx, store, plan);
        if (wantsJson(flags)) out.json({ plan, result });
        else
          out.print(
            `removed ${result.removedBackups.length} backup(s), ${result.removedLeftovers.length} leftover folder(s) and ${result.removedWal} WAL file(s)`,
          );
      } finally {
        store.close();
      }
    });
};
