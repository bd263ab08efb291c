/**
 * `npm run bench [name ...]`: runs the benchmarks side by side with their baselines and prints
 * ratios. Each bench/<name>.ts exports `run(): Promise<void>`.
 */
const available: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  startup: () => import('./startup.js'),
  bootstrap: () => import('./bootstrap.js'),
  'wal-push': () => import('./wal-push.js'),
  alerts: () => import('./alerts.js'),
  daemon: () => import('./daemon.js'),
  archive: () => import('./archive.js'),
  failover: () => import('./failover.js'),
  backup: () => import('./backup.js'),
};

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(available);
for (const name of names) {
  const load = available[name];
  if (!load) {
    console.error(`unknown benchmark "${name}"; available: ${Object.keys(available).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n=== bench: ${name}`);
  await (await load()).run();
}
