#!/usr/bin/env node
import { StoppedError } from '../errors.js';
import { main } from './main.js';

// Output to a pipe whose reader is gone (`pgfollower demo | tee log`, then Ctrl-C stops tee first)
// fails with EPIPE. That must not crash the process in the middle of its cleanup: what could not
// be printed is lost, the cleanup is not.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

// Two-stage shutdown: the first SIGINT/SIGTERM asks the command to stop cleanly (the AbortSignal
// reaches every loop, timer and child process); a second one ends the process at once. A second
// signal within a second of the first is the same Ctrl-C arriving twice (the terminal signals the
// whole process group and `npm run` forwards it again): it must not cut the cleanup short.
const DUPLICATE_WINDOW_MS = 1000;
const controller = new AbortController();
let firstAt: number | undefined;
const onSignal = (name: NodeJS.Signals): void => {
  const now = Date.now();
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

const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exit(code);
