#!/usr/bin/env node
import { main } from './main.js';

// Two-stage shutdown: the first SIGINT/SIGTERM asks the command to stop cleanly (the AbortSignal
// reaches every loop, timer and child process); a second one exits at once.
const controller = new AbortController();
let signals = 0;
const onSignal = (name: NodeJS.Signals): void => {
  signals++;
  if (signals > 1) process.exit(name === 'SIGINT' ? 130 : 143);
  controller.abort(new Error(`received ${name}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exit(code);
