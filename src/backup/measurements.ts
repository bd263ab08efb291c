import { readFile } from 'node:fs/promises';
import { dirname, join, basename, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { RunAs } from '../exec/run.js';
import { writeFileAtomic } from '../postgres/fs-as.js';

/**
 * Throughputs this host measured, the inputs of `pgfollower estimate` (docs/estimates.md): the last
 * clone from the leader (bootstrap), the last restore of a stored backup (bootstrap --from-archive,
 * backup verify) and the replay rate seen while replaying archived WAL. One small JSON file next to
 * the data directory, so it survives a rebuild of the directory itself.
 */
type MeasurementKind = 'clone' | 'restore' | 'replay';

export interface Measurement {
  bytes: number;
  ms: number;
  at: string;
}

type Measurements = Partial<Record<MeasurementKind, Measurement>>;

export function measurementsFileFor(config: Readonly<Config>): string | undefined {
  if (config.backup.measurementsFile) return config.backup.measurementsFile;
  const data = config.node.dataDirectory;
  if (!data) return undefined;
  const full = resolve(data);
  return join(dirname(full), `.${basename(full)}.pgfollower-measurements.json`);
}

export async function readMeasurements(file: string | undefined): Promise<Measurements> {
  if (!file) return {};
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Measurements;
  } catch {
    return {};
  }
}

/** Records one measurement, taken at `at` (ms since the epoch); never fails the command that measured it. */
export async function recordMeasurement(
  file: string | undefined,
  kind: MeasurementKind,
  value: { bytes: number; ms: number; at: number },
  runAs?: RunAs,
): Promise<void> {
  if (!file || value.ms <= 0 || value.bytes <= 0) return;
  try {
    const current = await readMeasurements(file);
    current[kind] = {
      bytes: Math.round(value.bytes),
      ms: Math.round(value.ms),
      at: new Date(value.at).toISOString(),
    };
    await writeFileAtomic(file, JSON.stringify(current, null, 2) + '\n', runAs, 0o644);
  } catch {
    // A read-only parent directory costs the estimate a figure, nothing else.
  }
}

export function rateOf(m: Measurement | undefined): number | undefined {
  return m && m.ms > 0 ? (m.bytes * 1000) / m.ms : undefined;
}
