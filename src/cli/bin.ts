#!/usr/bin/env node
import module from 'node:module';

// Node.js >= 22.1 can keep compiled code on disk between starts (a start compiles less); on older
// Node.js this is absent and nothing happens. Before the import below, so that code is covered.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
import { StoppedError } from '../errors.js';

// Two-stage shutdown: the first SIGINT/SIGTERM asks the command to stop cleanly (the AbortSignal
// reaches every loop, timer and child process); a second one ends the process at once. A second
// signal within a second of the first is the same Ctrl-C arriving twice (the terminal signals the
// whole process group and `npm run` forwards it again): it must not cut the cleanup short.
const DUPLICATE_WINDOW_MS = 1000;
const controller = new AbortController();
let firstAt: number | undefined;
const onSignal = (name: NodeJS.Signals): void => {
  const now = performance.now();
  if (firstAt !== undefined) {
    if (now - firstAt < DUPLICATE_WINDOW_MS) return;
    // Die by the signal itself: process.exit would wait for a libuv thread stuck in a read (a hung
    // NFS mount, a FIFO), and PostgreSQL reads death by SIGTERM of restore_command as its shutdown.
    process.removeAllListeners(name);
    process.kill(process.pid, name);
    return;
  }
  firstAt = now;
  controller.abort(new StoppedError(name === 'SIGINT' ? 'SIGINT' : 'SIGTERM'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Output into a closed pipe (`pgfollower demo | head`): stop cleanly like Ctrl-C (the demo removes
// its sandbox) instead of dying on EPIPE; later writes are dropped.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
      // What could not be printed is lost; the cleanup is not.
      if (!controller.signal.aborted) controller.abort(new StoppedError('SIGINT'));
      return;
    }
    throw error;
  });
}

const { main } = await import('./main.js');
const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exit(code);
