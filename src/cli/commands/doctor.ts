import type { RegisterCommand } from '../command.js';

export const registerDoctor: RegisterCommand = (program) => {
  program
    .command('doctor')
    .description('check this host and say what to fix (not yet implemented)')
    .option('--json', 'print the checks as JSON');
};
