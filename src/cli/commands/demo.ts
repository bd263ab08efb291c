import ms from 'ms';
import { UsageError } from '../../errors.js';
import type { RegisterCommand } from '../command.js';

export const registerDemo: RegisterCommand = (program, env) => {
  program
    .command('demo')
    .description(
      'sandbox leader + follower in a temp directory with a local archive; shows status until Ctrl-C',
    )
    .option('--duration <duration>', 'stop by itself after this long (e.g. 30s)')
    .option('--keep', 'keep the sandbox directory afterwards')
    .action(async (flags: { duration?: string; keep?: boolean }) => {
      const durationMs =
        flags.duration === undefined
          ? undefined
          : (ms(flags.duration as ms.StringValue) as number | undefined);
      if (flags.duration !== undefined && (durationMs === undefined || durationMs <= 0)) {
        throw new UsageError(`--duration ${flags.duration} is not a duration; write e.g. 30s or 5m`);
      }
      const { runDemo } = await import('../../demo/run-demo.js');
      await runDemo(env.output, env.signal, {
        durationMs,
        keep: flags.keep,
        contextFor: (configFile) =>
          env.context({ configFile, require: ['node.name', 'node.dataDirectory', 'leader.conninfo'] }),
      });
    });
};
