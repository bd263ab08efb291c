import type { Config } from './config/schema.js';
import type { Exec } from './exec/run.js';
import type { Logger } from './logging/logger.js';
import type { PgBinaries } from './postgres/binaries.js';
import type { Clock } from './util/time.js';

export { systemClock, type Clock } from './util/time.js';

/** Reports progress of a workflow: TTY progress bar or log lines (src/cli/output.ts makes one). */
export interface Reporter {
  /** A step starts: "creating replication slot replica_a on the leader". */
  step(message: string): void;
  /** A step finished well. */
  done(message: string): void;
  warn(message: string): void;
  /** Progress of a long step, e.g. bytes copied of total. */
  progress(current: number, total: number | undefined, label?: string): void;
  /** Long step over (hide the bar). */
  progressEnd(): void;
}

export const silentReporter: Reporter = {
  step: () => undefined,
  done: () => undefined,
  warn: () => undefined,
  progress: () => undefined,
  progressEnd: () => undefined,
};

/**
 * What every domain function receives. Nothing reaches for a global: tests pass real clusters or
 * small fakes here.
 */
export interface Context {
  config: Readonly<Config>;
  /** The config file the config came from (absolute), if any: commands pgfollower writes into
   * PostgreSQL settings (restore_command) must name it. */
  configFile?: string | undefined;
  logger: Logger;
  exec: Exec;
  bin: PgBinaries;
  clock: Clock;
  signal: AbortSignal;
  reporter: Reporter;
}
