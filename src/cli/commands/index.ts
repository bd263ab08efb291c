import type { RegisterCommand } from '../command.js';

/** Every command, in the order `--help` lists them. One file per command in this folder. */
export const commands: RegisterCommand[] = [];
