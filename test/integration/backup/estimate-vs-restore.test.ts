import { beforeAll, describe, expect, it } from 'vitest';
import { takeBackup } from '../../../src/backup/take.js';
import { main } from '../../../src/cli/main.js';
import { createMemoryOutput } from '../../../src/cli/output.js';
import { trackDataDirectory, pgTools, clusterHandle } from '../../helpers/cluster.js';
import { requireBuiltCli } from '../../helpers/archive.js';
import { archiveEverything, createBackupRig, newNodeConfig, type BackupRig } from './helpers.js';

async function runCli(args: string[]): Promise<{ code: number; text: string; stdout: string }> {
  const output = createMemoryOutput();
  const code = await main(args, { output });
  return { code, text: output.text(), stdout: output.stdout.join('\n') };
}

interface Restore {
  restoreMs: number;
  replay: { bytes: number; ms: number } | undefined;
  state: string;
  replayLsn: string;
}

/** `bootstrap --from-archive` of a new node through the CLI (which records its rates); server stopped after. */
async function restoreNode(rig: BackupRig, name: string): Promise<{ result: Restore; file: string }> {
  const node = await newNodeConfig(rig, name);
  trackDataDirectory(node.dataDirectory);
  const run = await runCli(['--config', node.file, 'bootstrap', '--from-archive', '--yes', '--json']);
  const handle = clusterHandle(name, node.socketDirectory, node.dataDirectory, node.port, await pgTools());
  await handle.stop();
  expect(run.code, run.text).toBe(0);
  return { result: JSON.parse(run.stdout) as Restore, file: node.file };
}

/** `estimate --json` for a node: restoreFromArchiveSeconds from its measured rates. */
async function estimateFor(file: string): Promise<number> {
  const est = await runCli(['--config', file, 'estimate', '--json', '--wal-rate', '1MB']);
  expect(est.code, est.text).toBe(0);
  const estimate = JSON.parse(est.stdout) as {
    restoreFromArchiveSeconds: number;
    inputs: Record<string, { source: string }>;
  };
  expect(estimate.inputs.restoreBytesPerSecond?.source).toBe('measured');
  expect(estimate.inputs.replayBytesPerSecond?.source).toBe('measured');
  return estimate.restoreFromArchiveSeconds;
}

/** About `mb` MB of WAL on the leader, archived. */
async function writeWal(rig: BackupRig, mb: number): Promise<string> {
  await rig.leader.query(
    `insert into filler select g, repeat('x', 200) from generate_series(1, ${mb * 4000}) g`,
  );
  return archiveEverything(rig.leader);
}

/**
 * The issue's bound: `estimate`'s restoreFromArchiveSeconds is within 25 % of a restore measured on
 * the same machine. A first restore (leader down) records this host's restore and replay rates;
 * more WAL is written; the estimate made then is compared with a second, measured restore of the
 * same backup and all the WAL since (files restored + replay to the newest archived segment).
 * Timing on a shared machine: see the retry below.
 */
describe('estimate against a measured restore', () => {
  beforeAll(requireBuiltCli);

  it('restoreFromArchiveSeconds is within 25 % of the measured restore', async () => {
    const rig = await createBackupRig();
    const { leader, follower, store } = rig;
    try {
      await leader.query('create table filler (id int, pad text)');
      await writeWal(rig, 40);
      await takeBackup(rig.ctx, store);
      await follower.stop();
      await writeWal(rig, 80);
      await leader.stop();

      // Calibration: this host's rates, recorded by the CLI in replica_b's measurements file.
      const first = await restoreNode(rig, 'replica_b');
      expect(first.result.state).toBe('archive-recovery');
      expect(first.result.replay?.bytes).toBeGreaterThan(80 * 1024 * 1024);

      // The first estimate extrapolates to more WAL than calibrated. Under a shared machine's load
      // a single pair can be off by noise, so up to three measured restores are made, each estimate
      // from the rates the previous restore recorded; a systematic error fails all three.
      let calibration = first;
      const ratios: number[] = [];
      for (const [attempt, more] of [40, 0, 0].entries()) {
        await leader.start();
        if (more > 0) await writeWal(rig, more);
        const estimate = await estimateFor(calibration.file);
        await leader.stop();
        const next = await restoreNode(rig, `replica_${attempt}`);
        const replay = next.result.replay as { bytes: number; ms: number };
        expect(replay.bytes).toBeGreaterThan(first.result.replay?.bytes as number);
        const measured = (next.result.restoreMs + replay.ms) / 1000;
        ratios.push(estimate / measured);
        console.log(
          `estimate ${estimate} s, measured ${measured.toFixed(1)} s (files ${next.result.restoreMs} ms, replay ${JSON.stringify(replay)}); calibrated by ${JSON.stringify(calibration.result.replay)}, files ${calibration.result.restoreMs} ms`,
        );
        if (Math.abs(estimate / measured - 1) <= 0.25) break;
        calibration = next;
      }
      expect(
        ratios.some((r) => r >= 0.75 && r <= 1.25),
        `estimate/measured ratios ${ratios.join(', ')}`,
      ).toBe(true);
    } finally {
      await follower.stop();
      await leader.stop();
      store.close();
    }
  }, 560_000);
});
