import { UsageError } from '../../errors.js';
import { bigintSafe } from '../../util/json.js';
import type { RegisterCommand } from '../command.js';
import { parseDurationFlag } from '../flags.js';

export const registerDemo: RegisterCommand = (program, env) => {
  program
    .command('demo')
    .description(
      'sandbox leader + follower in a temp directory with a local archive; shows status until Ctrl-C',
    )
    .option(
      '--scenario <name>',
      'basic (leader + follower, until Ctrl-C) or failover (an incident start to finish, ends with measured RTO and RPO)',
      'basic',
    )
    .option('--duration <duration>', 'stop by itself after this long (e.g. 30s)', parseDurationFlag)
    .option('--keep', 'keep the sandbox directory afterwards')
    .action(async (flags: { duration?: number; keep?: boolean; scenario: string }) => {
      if (flags.scenario !== 'basic' && flags.scenario !== 'failover')
        throw new UsageError(`--scenario ${flags.scenario}: write basic or failover`);
      const durationMs = flags.duration;
      if (flags.scenario === 'failover') {
        const { runFailoverDemo } = await import('../../demo/failover.js');
        await runFailoverDemo(env.output, env.signal, {
          keep: flags.keep,
          contextFor: (configFile) =>
            env.context({ configFile, require: ['node.name', 'node.dataDirectory', 'leader.conninfo'] }),
          // Each step's own output, stdout and stderr alike, goes through the demo's print.
          invoke: (argv, print) =>
            env.invoke(argv, {
              isTTY: false,
              stderrIsTTY: false,
              print,
              error: print,
              json: (value) => print(JSON.stringify(value, bigintSafe, 2)),
              confirm: () => Promise.resolve(false),
            }),
        });
        return;
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
