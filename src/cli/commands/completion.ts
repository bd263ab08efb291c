import { UsageError } from '../../errors.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import type { RegisterCommand } from '../command.js';

/** `pgfollower completion bash|zsh`: prints a completion script built from the command tree. */
export const registerCompletion: RegisterCommand = (program, env) => {
  program
    .command('completion')
    .description('print a shell completion script for bash or zsh')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell === 'bash') env.output.print(bashCompletion(program).trimEnd());
      else if (shell === 'zsh') env.output.print(zshCompletion(program).trimEnd());
      else throw new UsageError(`no completion for "${shell}": write bash or zsh`);
    });
};
