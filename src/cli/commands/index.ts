import type { RegisterCommand } from '../command.js';
import { registerWalPush } from './wal-push.js';
import { registerWalFetch } from './wal-fetch.js';
import { registerArchive } from './archive.js';
import { registerBootstrap } from './bootstrap.js';
import { registerDemo } from './demo.js';
import { registerPromote } from './promote.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerCheck } from './check.js';
import { registerAlerts } from './alerts.js';
import { registerFollow } from './follow.js';
import { registerRebuild } from './rebuild.js';

/** Every command, in the order `--help` lists them. One file per command in this folder. */
export const commands: RegisterCommand[] = [
  registerBootstrap,
  registerDemo,
  registerPromote,
  registerRun,
  registerStatus,
  registerCheck,
  registerFollow,
  registerRebuild,
  registerWalPush,
  registerWalFetch,
  registerArchive,
  registerAlerts,
];
