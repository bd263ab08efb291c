import { resolve } from 'node:path';
import type { RequiredKey } from '../config/index.js';
import { resolveConfigFile } from '../config/file.js';
import type { Context } from '../context.js';
import { systemClock } from '../context.js';
import { createExec, resolveRunAs } from '../exec/run.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { findPgBinaries } from '../postgres/binaries.js';
import { readPackageInfo } from '../exec/self.js';
import { createReporter, type Output } from './output.js';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
  logFormat?: 'auto' | 'json' | 'pretty';
}

export interface BuildContextOptions {
  global: GlobalOptions;
  output: Output;
  signal: AbortSignal;
  require?: readonly RequiredKey[];
  /** A config file that replaces --config (the demo's sandbox config). */
  configFile?: string;
  /** Flag values as a partial config tree. */
  overrides?: Record<string, unknown>;
  /** Look up PostgreSQL programs now (bootstrap, rebuild...). Default true. */
  needBinaries?: boolean;
  /** Prefer binaries of this major version (the leader's). */
  major?: number;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /**
   * Take the validated config from the per-user cache when the same file was validated before
   * (config/cache.ts): for the commands PostgreSQL runs once per WAL segment.
   */
  cacheConfig?: boolean;
}

/** Loads config once, then builds the one context object commands pass to domain functions. */
export async function buildContext(options: BuildContextOptions): Promise<Context> {
  const configFile =
    options.configFile ?? resolveConfigFile(options.global.config, options.env ?? process.env);
  const loadOptions = {
    file: configFile,
    env: options.env,
    overrides: options.overrides,
    require: options.require,
  };
  // YAML and zod are loaded only when the config is validated (not on a cache hit).
  const config = options.cacheConfig
    ? await (
        await import('../config/cache.js')
      ).loadConfigCached({ ...loadOptions, version: readPackageInfo().version })
    : (await import('../config/load.js')).loadConfig(loadOptions);
  const logger =
    options.logger ??
    createLogger({
      level: options.global.logLevel ?? config.log.level,
      format: options.global.logFormat ?? config.log.format,
    });
  const runAs = await resolveRunAs(config.node.osUser);
  const exec = createExec(runAs);
  const bin =
    options.needBinaries === false
      ? lazyBinaries()
      : await findPgBinaries({ binDir: config.node.binDir, major: options.major });
  return {
    config,
    configFile: configFile ? resolve(configFile) : undefined,
    logger,
    exec,
    bin,
    clock: systemClock,
    signal: options.signal,
    reporter: createReporter(options.output, logger, systemClock),
  };
}

function lazyBinaries(): Context['bin'] {
  const fail = (): never => {
    throw new Error('PostgreSQL binaries were not looked up for this command');
  };
  return {
    get binDir(): string {
      return fail();
    },
    get major(): number {
      return fail();
    },
    path: fail,
  };
}
