import type { Command } from 'commander';
import type { GlobalOptions } from './context.js';
import type { Output } from './output.js';

/** What every command file gets to register itself; see src/cli/commands/index.ts. */
export interface CommandEnv {
  output: Output;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  globals(): GlobalOptions;
  /** A command that finishes with a code other than 0 without throwing (check, dry-run). */
  setExitCode(code: number): void;
}

export type RegisterCommand = (program: Command, env: CommandEnv) => void;
