export { loadConfig, defaultSlotName, type LoadConfigOptions, type RequiredKey } from './load.js';
export type { Config, ConfigInput } from './schema.js';
export {
  sizeBytes,
  durationMs,
  boundedDuration,
  boundedSize,
  formatBytes,
  formatDurationMs,
} from './units.js';
