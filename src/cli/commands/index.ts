import type { RegisterCommand } from '../command.js';
import { registerArchive } from './archive.js';
import { registerWalFetch } from './wal-fetch.js';
import { registerWalPush } from './wal-push.js';
import { registerPromote } from './promote.js';
import { registerFollow } from './follow.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerCheck } from './check.js';
import { registerAlerts } from './alerts.js';

/** Every command, in the order `--help` lists them. One file per command in this folder. */
export const commands: RegisterCommand[] = [registerPromote, registerFollow, registerRun, registerStatus, registerCheck, registerWalPush, registerWalFetch, registerArchive, registerAlerts];
