import type { RegisterCommand } from '../command.js';

/**
 * Every command, in the order `--help` lists them, one file per command in this folder. Modules
 * load lazily: `wal-push` and `wal-fetch` run once per WAL segment, so a call must not pay for
 * loading the S3 SDK, prom-client and every other command.
 */
const commandModules: Record<string, () => Promise<RegisterCommand>> = {
  bootstrap: async () => (await import('./bootstrap.js')).registerBootstrap,
  run: async () => (await import('./run.js')).registerRun,
  status: async () => (await import('./status.js')).registerStatus,
  check: async () => (await import('./check.js')).registerCheck,
  promote: async () => (await import('./promote.js')).registerPromote,
  follow: async () => (await import('./follow.js')).registerFollow,
  rebuild: async () => (await import('./rebuild.js')).registerRebuild,
  'wal-push': async () => (await import('./wal-push.js')).registerWalPush,
  'wal-fetch': async () => (await import('./wal-fetch.js')).registerWalFetch,
  archive: async () => (await import('./archive.js')).registerArchive,
  backup: async () => (await import('./backup.js')).registerBackup,
  estimate: async () => (await import('./estimate.js')).registerEstimate,
  alerts: async () => (await import('./alerts.js')).registerAlerts,
  maintenance: async () => (await import('./maintenance.js')).registerMaintenance,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  demo: async () => (await import('./demo.js')).registerDemo,
  completion: async () => (await import('./completion.js')).registerCompletion,
};

/** Global options that take a value, so the command name can be found without parsing. */
const valueOptions = new Set(['-c', '--config', '--log-level', '--log-format']);

/**
 * The register functions needed for argv: just the named command, none for `--version`, or all of
 * them for help.
 */
export async function loadCommands(argv: readonly string[]): Promise<RegisterCommand[]> {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (valueOptions.has(arg)) {
      i++;
      continue;
    }
    if (arg === '--version' || arg === '-V') return [];
    if (arg.startsWith('-')) continue;
    // Completion describes every command, so it needs them all registered.
    if (arg === 'completion') break;
    const load = commandModules[arg];
    if (load) return [await load()];
    break;
  }
  return Promise.all(Object.values(commandModules).map((load) => load()));
}
