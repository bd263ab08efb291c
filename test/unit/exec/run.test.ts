import { describe, expect, it } from 'vitest';
import { ExternalCommandError } from '../../../src/errors.js';
import { createExec, tail } from '../../../src/exec/run.js';

const exec = createExec();

describe('createExec', () => {
  it('passes arguments as an array, never through a shell', async () => {
    const result = await exec.run('printf', ['%s|', 'a b', '$(echo x)', "'q'"]);
    expect(result.stdout).toBe("a b|$(echo x)|'q'|");
  });

  it('throws ExternalCommandError with the exit status and the last stderr lines', async () => {
    const error = await exec
      .run('sh', ['-c', 'echo first >&2; echo last words >&2; exit 3'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalCommandError);
    expect((error as Error).message).toMatch(/sh exited with status 3/);
    expect((error as Error).message).toContain('last words');
  });

  it('tryRun resolves with the exit code instead of throwing', async () => {
    const result = await exec.tryRun('sh', ['-c', 'exit 4']);
    expect(result.exitCode).toBe(4);
  });

  it('stops the child when the signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = exec.run('sleep', ['30'], { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 100);
    const error = await pending;
    expect(error).toBeInstanceOf(ExternalCommandError);
    expect((error as Error).message).toMatch(/cancelled/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('names a program that does not exist', async () => {
    const error = await exec.run('/nonexistent/pg_ctl', []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalCommandError);
    expect((error as Error).message).toContain('/nonexistent/pg_ctl');
  });

  // Issue 14 defect 11: a program killed by a signal was reported as "could not run ... check node.binDir".
  it.each(['run', 'tryRun'] as const)('%s names the signal that killed a program', async (method) => {
    const error = await exec[method]('sh', ['-c', 'echo dying >&2; kill -KILL $$']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalCommandError);
    const e = error as ExternalCommandError;
    expect(e.message).toMatch(/^sh was killed by signal SIGKILL/);
    expect(e.message).not.toMatch(/could not run/);
    expect(e.hint).not.toMatch(/binDir/);
    expect(e.commandSignal).toBe('SIGKILL');
    expect(e.stderrTail).toBe('dying');
  });

  it('tail keeps the last lines', () => {
    expect(tail('a\nb\nc\nd', 2)).toBe('c\nd');
  });
});
