#!/usr/bin/env node
import { StoppedError } from '../errors.js';
import { main } from './main.js';

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
  controller.abort(new StoppedError(name === 'SIGINT' ? 'SIGINT' : 'SIGTERM'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exit(code);
