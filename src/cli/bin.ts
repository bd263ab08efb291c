#!/usr/bin/env node
import module from 'node:module';

// Node.js >= 22.1 can keep compiled code on disk between starts (a start compiles less); on older
// Node.js this is absent and nothing happens. Before the import below, so that code is covered.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

// Two-stage shutdown: the first SIGINT/SIGTERM asks the command to stop cleanly (the AbortSignal
// reaches every loop, timer and child process); a second one exits at once.
const controller = new AbortController();
let signals = 0;
const onSignal = (name: NodeJS.Signals): void => {
  signals++;
  if (signals > 1) {
    // Die by the signal itself: process.exit would wait for a libuv thread stuck in a read (a hung
    // NFS mount, a FIFO), and PostgreSQL reads death by SIGTERM of restore_command as its shutdown.
    process.removeAllListeners(name);
    process.kill(process.pid, name);
    return;
  }
  controller.abort(new Error(`received ${name}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Output into a closed pipe (`pgfollower demo | head`): stop cleanly like Ctrl-C (the demo removes
// its sandbox) instead of dying on EPIPE; later writes are dropped.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
      if (!controller.signal.aborted) controller.abort(new Error('output closed (EPIPE)'));
      return;
    }
    throw error;
  });
}

const { main } = await import('./main.js');
const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exit(code);
