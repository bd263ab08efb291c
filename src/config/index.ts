export { loadConfig, type RequiredKey } from './load.js';
