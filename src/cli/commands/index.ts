import type { RegisterCommand } from '../command.js';
import { registerWalFetch } from './wal-fetch.js';
import { registerWalPush } from './wal-push.js';

/** Every command, in the order `--help` lists them. One file per command in this folder. */
export const commands: RegisterCommand[] = [registerWalPush, registerWalFetch];
