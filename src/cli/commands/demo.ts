import { parseDurationFlag } from '../flags.js';
import type { RegisterCommand } from '../command.js';

export const registerDemo: RegisterCommand = (program, env) => {
  program
    .command('demo')
    .description(
      'sandbox leader + follower in a temp directory with a local archive; shows status until Ctrl-C',
    )
    .option('--duration <duration>', 'stop by itself after this long (e.g. 30s)', parseDurationFlag)
    .option('--keep', 'keep the sandbox directory afterwards')
    .action(async (flags: { duration?: number; keep?: boolean }) => {
      const durationMs = flags.duration;
      const { runDemo } = await import('../../demo/run-demo.js');
      await runDemo(env.output, env.signal, {
        durationMs,
        keep: flags.keep,
        contextFor: (configFile) =>
          env.context({ configFile, require: ['node.name', 'node.dataDirectory', 'leader.conninfo'] }),
      });
    });
};
