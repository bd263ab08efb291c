import type { RegisterCommand } from '../command.js';
import { sendTestNotifications } from '../../alerts/notify.js';
import { resolveChannelName } from '../../alerts/channels/index.js';
import { ExitCode, UsageError } from '../../errors.js';
import { loadAlertState, resolveAlertStateFile } from '../../alerts/state-file.js';
import { formatDurationMs } from '../../config/units.js';

interface TestFlags {
  channel?: string;
  resolve?: boolean;
  json?: boolean;
}

export const registerAlerts: RegisterCommand = (program, env) => {
  const alerts = program.command('alerts').description('alerts to on-call: check the configured channels');
  alerts
    .command('status')
    .description('show the alerts the supervisor has firing or pending (read from the alert state file)')
    .option('--json', 'print the state as JSON')
    .action(async (flags: { json?: boolean }) => {
      const out = env.output;
      const ctx = await env.context({
        needBinaries: false,
      });
      const file = resolveAlertStateFile(ctx.config);
      if (!file) {
        throw new UsageError('no alert state file is configured, so there is nothing to read', {
          hint: 'set alerts.stateFile (or monitor.stateFile, or node.dataDirectory) as `pgfollower run` uses it',
        });
      }
      const state = await loadAlertState(file, ctx.logger);
      const now = ctx.clock.now();
      const alerts = Object.values(state.alerts);
      if (flags.json) {
        out.json({ stateFile: file, ...state });
        return;
      }
      if (alerts.length === 0) {
        out.print(`no alerts firing or pending (state: ${file})`);
      }
      for (const a of alerts) {
        const since = a.firedAt ?? a.since;
        const sent =
          a.phase === 'pending'
            ? 'not sent yet (waiting for `for`)'
            : a.notifiedAt === null
              ? 'held by the rate limit (not sent)'
              : `last sent ${formatDurationMs(now - a.notifiedAt)} ago`;
        out.print(
          `${a.phase === 'firing' ? 'FIRING ' : 'pending'} ${a.severity.padEnd(8)} ${a.alert} for ${formatDurationMs(now - since)}, ${sent}: ${a.message}`,
        );
      }
      const owed = state.outbox ?? [];
      if (owed.length > 0) {
        out.print(
          `${owed.length} notification(s) not yet confirmed by ${[...new Set(owed.flatMap((e) => e.channels))].join(', ')}; the supervisor sends them when it runs`,
        );
      }
    });

  alerts
    .command('test')
    .description(
      'send a test notification (firing, then resolved) through every configured channel; exit 1 if any channel failed',
    )
    .option(
      '--channel <name>',
      'only this channel (names as in `alerts.channels[].name`, default <type>-<n>)',
    )
    .option('--no-resolve', 'send only the firing test (a PagerDuty test incident then stays open)')
    .option('--json', 'print the results as JSON')
    .action(async (flags: TestFlags) => {
      const out = env.output;
      const ctx = await env.context({
        needBinaries: false,
      });
      const configured = ctx.config.alerts.channels.map((c, i) => `${resolveChannelName(c, i)} (${c.type})`);
      if (configured.length === 0) {
        throw new UsageError('no alert channels configured: nothing to test', {
          hint: 'add alerts.channels to the config file (see docs/alerts.md), then run `pgfollower alerts test` again',
        });
      }
      if (!flags.json) {
        out.print(
          `sending a test notification through ${flags.channel ?? `${configured.length} channel(s): ${configured.join(', ')}`}`,
        );
      }
      const results = await sendTestNotifications(ctx, { channel: flags.channel, resolve: flags.resolve });
      const failed = results.filter((r) => !r.ok);
      const code = failed.length > 0 ? ExitCode.FAILED : ExitCode.OK;
      if (flags.json) {
        out.json({ ok: failed.length === 0, results });
      } else {
        for (const r of results) {
          const detail = r.ok
            ? `delivered in ${r.elapsedMs} ms${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`
            : `FAILED after ${r.attempts} attempt(s): ${r.error ?? 'unknown error'}`;
          out.print(`[${r.ok ? ' ok ' : 'FAIL'}] ${r.channel} (${r.type}) ${r.step}: ${detail}`);
        }
        if (failed.length === 0) {
          out.print('every channel works: check that the test arrived where on-call will look');
        } else {
          out.error(
            `next: fix ${[...new Set(failed.map((r) => r.channel))].join(', ')} (URL, key, network or program; the log above says which), then run \`pgfollower alerts test --channel NAME\``,
          );
        }
      }
      env.setExitCode(code);
    });
};
