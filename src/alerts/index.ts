/** Alerts to on-call: rules over snapshots (engine.ts), channels, the supervisor service. */
export { evaluate, type EngineConfig, type EvaluateResult } from './engine.js';
export { observeSnapshot, type Observation } from './rules.js';
export { createAlertService, type AlertServiceOptions } from './service.js';
export {
  notifyLifecycle,
  sendTestNotifications,
  makeLifecycleNotification,
  type LifecycleKind,
} from './notify.js';
export { createAlertMetrics, type AlertMetrics } from './metrics.js';
export { loadAlertState, saveAlertState, resolveAlertStateFile } from './state-file.js';
export { createDispatcher, deliverWithRetry, type DeliveryResult, type Dispatcher } from './deliver.js';
export { createChannels, createChannel, resolveChannelName, type Channel } from './channels/index.js';
export * from './types.js';
