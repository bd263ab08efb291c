import { afterEach, expect } from 'vitest';
import { cleanupTempDirs, pgTools, startedDataDirectories } from './cluster.js';
import { serverStatus, stopServer } from '../../src/postgres/cluster.js';

// A test must not leave a PostgreSQL server running: stop it, then fail the test that left it.
afterEach(async () => {
  if (startedDataDirectories.size === 0) {
    await cleanupTempDirs();
    return;
  }
  const tools = await pgTools();
  const leftRunning: string[] = [];
  for (const dir of startedDataDirectories) {
    if ((await serverStatus(tools, dir)) === 'running') {
      leftRunning.push(dir);
      await stopServer(tools, dir, { mode: 'immediate' }).catch(() => undefined);
    }
  }
  startedDataDirectories.clear();
  await cleanupTempDirs();
  expect(leftRunning, 'servers left running by the test').toEqual([]);
});
