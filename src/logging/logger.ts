import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { maskConninfo } from '../postgres/conninfo.js';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line (pino `redact`). */
const redactPaths = [
  'password',
  '*.password',
  '*.*.password',
  'secretAccessKey',
  '*.secretAccessKey',
  '*.*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  '*.*.sessionToken',
  'routingKey',
  '*.routingKey',
  'webhookUrl',
  '*.webhookUrl',
  'headers.authorization',
  '*.headers.authorization',
];

interface CreateLoggerOptions {
  level?: string;
  format?: 'auto' | 'json' | 'pretty';
  /** Where log lines go; stderr by default so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
}

/**
 * Colours only for a terminal: never in a pipe, a file or the journal. NO_COLOR (https://no-color.org)
 * turns them off, FORCE_COLOR on; TERM=dumb counts as no terminal.
 */
export function colourWanted(
  stream: { isTTY?: boolean } = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const pretty =
    options.format === 'pretty' ||
    (options.format !== 'json' && (destination as NodeJS.WriteStream).isTTY === true);
  const base = {
    level: options.level ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    // conninfo strings carry passwords inline: mask them wherever they are logged.
    formatters: {
      log(object: Record<string, unknown>) {
        for (const [k, v] of Object.entries(object)) {
          if (typeof v === 'string' && /conninfo/i.test(k)) object[k] = maskConninfo(v);
        }
        return object;
      },
    },
  };
  if (pretty) {
    // A terminal only: pino-pretty is loaded then (not in every start) and formats in this thread,
    // writing synchronously so nothing is lost when the command exits right after its last line.
    const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(
      base,
      pinoPretty({
        destination: options.destination ?? 2,
        colorize: colourWanted(process.stderr),
        ignore: 'pid,hostname',
        sync: true,
      }),
    );
  }
  return pino(base, destination as pino.DestinationStream);
}

/** A logger that drops everything: for tests and quiet commands. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
