import { measurementsFileFor, recordMeasurement } from '../backup/measurements.js';
import type { Context } from '../context.js';
import type { BootstrapFromArchiveResult } from './from-archive.js';

/** Records this restore's file and replay rates for `estimate` (never fails the command). */
export async function recordRestoreMeasurements(
  ctx: Context,
  result: BootstrapFromArchiveResult,
): Promise<void> {
  const file = measurementsFileFor(ctx.config);
  const at = ctx.clock.now();
  await recordMeasurement(
    file,
    'restore',
    { bytes: result.backup.rawBytes, ms: result.restoreMs, at },
    ctx.exec.runAs,
  );
  if (result.replay) await recordMeasurement(file, 'replay', { ...result.replay, at }, ctx.exec.runAs);
}
