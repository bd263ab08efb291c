import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { BuildContextOptions, GlobalOptions } from './context.js';
import type { Output } from './output.js';

/** What every command file gets to register itself; see src/cli/commands/index.ts. */
export interface CommandEnv {
  output: Output;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  globals(): GlobalOptions;
  /** Loads the config once and builds the command's Context (global flags, output, signal filled in). */
  context(options?: Omit<BuildContextOptions, 'global' | 'output' | 'signal' | 'env'>): Promise<Context>;
  /** A command that finishes with a code other than 0 without throwing (check, dry-run). */
  setExitCode(code: number): void;
  /** Runs another pgfollower command line in this process (the failover demo's steps). */
  invoke(argv: readonly string[], output: Output): Promise<number>;
}

export type RegisterCommand = (program: Command, env: CommandEnv) => void;
