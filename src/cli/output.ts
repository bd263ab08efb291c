import { createRequire } from 'node:module';
import { createInterface } from 'node:readline/promises';
import type cliProgressModule from 'cli-progress';
import type { Clock, Reporter } from '../context.js';
import type { Logger } from '../logging/logger.js';
import { bigintSafe } from '../util/json.js';

/**
 * The only place that writes to the terminal. Commands print through an Output so tests can call
 * main(argv) in-process and read what an operator would see.
 */
export interface Output {
  /** stdout is a terminal: questions may be asked, human text rather than machine lines. */
  readonly isTTY: boolean;
  /** stderr is a terminal: progress bars and step marks go there; otherwise rate-limited log lines. */
  readonly stderrIsTTY: boolean;
  /** A line on stdout (results). */
  print(text: string): void;
  /** A line on stderr (errors, advice). */
  error(text: string): void;
  json(value: unknown): void;
  /** Ask yes/no on a TTY. Never waits when stdin is not a TTY: returns false. */
  confirm(question: string): Promise<boolean>;
}

export function createConsoleOutput(): Output {
  const isTTY = process.stdout.isTTY === true;
  return {
    isTTY,
    stderrIsTTY: process.stderr.isTTY === true && process.env.TERM !== 'dumb',
    print: (text) => console.log(text),
    error: (text) => console.error(text),
    json: (value) => console.log(JSON.stringify(value, bigintSafe, 2)),
    async confirm(question) {
      if (process.stdin.isTTY !== true) return false;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
  };
}

/** Collects output in memory: for tests calling main(argv). */
export function createMemoryOutput(
  answers: boolean[] = [],
): Output & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    isTTY: false,
    stderrIsTTY: false,
    stdout,
    stderr,
    print: (t) => stdout.push(t),
    error: (t) => stderr.push(t),
    json: (v) => stdout.push(JSON.stringify(v, bigintSafe, 2)),
    confirm: async () => answers.shift() ?? false,
    text: () => [...stdout, ...stderr].join('\n'),
  };
}

/**
 * Progress for workflows: a bar on a terminal (stderr, where it is drawn), otherwise log lines at
 * most every few seconds, so a pipe or the journal shows progress without flooding or escape codes.
 */
export function createReporter(output: Output, logger: Logger, clock: Clock): Reporter {
  let bar: cliProgressModule.SingleBar | undefined;
  let lastLog = 0;
  return {
    step(message) {
      if (output.stderrIsTTY) output.error(`-> ${message}`);
      else logger.info(message);
    },
    done(message) {
      if (output.stderrIsTTY) output.error(`ok ${message}`);
      else logger.info(message);
    },
    warn(message) {
      if (output.stderrIsTTY) output.error(`!! ${message}`);
      else logger.warn(message);
    },
    progress(current, total, label) {
      if (output.stderrIsTTY && total) {
        if (!bar) {
          // Only a terminal shows a bar: load it then, not in every start (require: progress() is sync).
          const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
          bar = new cliProgress.SingleBar(
            {
              format: `   ${label ?? 'progress'} [{bar}] {percentage}% | {value}/{total} MB | ETA {eta}s`,
              hideCursor: true,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(Math.ceil(total / 1048576), 0);
        }
        bar.setTotal(Math.ceil(total / 1048576));
        bar.update(Math.floor(current / 1048576));
        return;
      }
      const now = clock.now();
      if (now - lastLog >= 2000) {
        lastLog = now;
        const pct = total ? ` (${Math.floor((current / total) * 100)}%)` : '';
        logger.info(
          { current, total },
          `${label ?? 'progress'}: ${Math.floor(current / 1048576)} MB${total ? ` of ${Math.ceil(total / 1048576)} MB` : ''}${pct}`,
        );
      }
    },
    progressEnd() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/**
 * The `confirm` a workflow calls with its plan before it changes anything: prints the plan on
 * stderr and asks "proceed?". None (the workflow goes ahead) when `skip` (--yes) or when stdout is
 * not a terminal (a script: the workflow's own refusals still apply).
 */
export function confirmPlan(output: Output, skip: boolean): ((plan: string) => Promise<boolean>) | undefined {
  if (skip || !output.isTTY) return undefined;
  return async (plan) => {
    output.error(plan);
    return output.confirm('proceed?');
  };
}
