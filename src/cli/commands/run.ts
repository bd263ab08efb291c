import { abortReasonText } from '../../util/deadline.js';
import { loadConfig } from '../../config/index.js';
import { ConfigError } from '../../errors.js';
import { collectPlugins } from '../../app/plugins.js';
import { createSdNotifyService, createSystemdNotify } from '../../daemon/sd-notify.js';
import { startSupervisor } from '../../daemon/supervisor.js';
import type { SupervisorService } from '../../daemon/types.js';
import type { RegisterCommand } from '../command.js';
import { parseDurationFlag } from '../flags.js';

/** Below systemd's default TimeoutStopSec (90 s) and the unit's 30 s: stop cleanly or say why not. */
const STOP_DEADLINE_MS = 20_000;

/**
 * A supervisor must know which follower it watches and which leader: with neither it would watch
 * whatever answers on /var/run/postgresql:5432 and report it healthy.
 */
const REQUIRED = ['node.name', 'leader.conninfo'] as const;

interface RunFlags {
  interval?: number;
  listen?: string;
  http?: boolean;
}

export const registerRun: RegisterCommand = (program, env) => {
  program
    .command('run')
    .description(
      'run the supervisor in the foreground (systemd runs it): monitor streaming, lag and the slot, serve the HTTP API, feed plug-ins',
    )
    .option(
      '--interval <duration>',
      'time between monitor ticks (default monitor.intervalMs, 1s)',
      parseDurationFlag,
    )
    .option('--listen <host:port>', 'HTTP API address (default http.listen, 127.0.0.1:8008)')
    .option('--no-http', 'do not serve the HTTP API')
    .action(async (flags: RunFlags) => {
      const overrides: Record<string, unknown> = {
        monitor: { intervalMs: flags.interval },
        http: { listen: flags.listen, enabled: flags.http === false ? false : undefined },
      };
      const ctx = await env.context({
        overrides,
        require: REQUIRED,
        needBinaries: false,
      });
      const logger = ctx.logger;
      const plugins = await collectPlugins(ctx);
      const services: SupervisorService[] = [];
      const sdNotify = createSdNotifyService({
        env: env.env,
        logger,
        notify: createSystemdNotify(env.env),
        clock: ctx.clock,
      });
      // sd-notify last: READY=1 goes out once the other plug-ins started.
      services.push(...plugins.services);
      if (sdNotify) services.push(sdNotify);

      const supervisor = await startSupervisor(ctx, { services, archiveProbe: plugins.archiveProbe });

      // SIGHUP reloads the configuration; a broken file keeps the running one.
      const onHup = (): void => {
        try {
          const config = loadConfig({
            file: ctx.configFile,
            env: env.env,
            overrides,
            require: REQUIRED,
          });
          if (config.log.level !== logger.level && !env.globals().logLevel) logger.level = config.log.level;
          supervisor.reload(config);
        } catch (error) {
          const detail = error instanceof ConfigError ? error.message : String(error);
          logger.error(`reload refused, keeping the running configuration: ${detail}`);
        }
      };
      process.on('SIGHUP', onHup);
      try {
        const stopped = supervisor.done.then(() => 'stopped' as const);
        await new Promise<void>((resolve) => {
          if (env.signal.aborted) resolve();
          env.signal.addEventListener('abort', () => resolve(), { once: true });
          void stopped.then(() => resolve());
        });
        const deadline = new Promise<'late'>((resolve) => {
          const timer = setTimeout(() => resolve('late'), STOP_DEADLINE_MS);
          timer.unref();
        });
        const result = await Promise.race([
          supervisor.stop(abortReasonText(env.signal.reason, 'stopped')).then(() => 'stopped' as const),
          deadline,
        ]);
        if (result === 'late') {
          logger.error(`supervisor did not stop within ${STOP_DEADLINE_MS / 1000}s; exiting anyway`);
          env.setExitCode(1);
        }
      } finally {
        process.off('SIGHUP', onHup);
      }
    });
};
