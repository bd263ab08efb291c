import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.js';

/** Log lines as objects, written through a real pino logger in JSON format. */
function capture(): { logger: ReturnType<typeof createLogger>; lines(): Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger({ level: 'info', format: 'json', destination: stream });
  return {
    logger,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('never writes secrets: passwords, S3 keys, routing keys, conninfo passwords', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        password: 'pw1',
        s3: { secretAccessKey: 'AKIA-SECRET' },
        channel: { routingKey: 'rk-secret' },
        leaderConninfo: 'host=db1 user=replicator password=S3cr3tPW',
      },
      'hello',
    );
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ['pw1', 'AKIA-SECRET', 'rk-secret', 'S3cr3tPW']) expect(text).not.toContain(secret);
    expect(line?.leaderConninfo).toContain('host=db1');
    expect(line?.msg).toBe('hello');
  });

  it('honours the level', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const logger = createLogger({ level: 'warn', format: 'json', destination: stream });
    logger.info('quiet');
    logger.warn('loud');
    expect(text).toContain('loud');
    expect(text).not.toContain('quiet');
  });
});
