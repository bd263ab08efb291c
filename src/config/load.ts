import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { secretKeysIn } from './secrets.js';
import { readConfigText } from './file.js';
import { deepFreeze } from './freeze.js';

export { DEFAULT_CONFIG_FILE, resolveConfigFile } from './file.js';

/** Keys a command needs; each is checked after defaults are filled. */
export type RequiredKey = 'node.name' | 'node.dataDirectory' | 'leader.conninfo';

export interface LoadConfigOptions {
  /** Path from --config; falls back to env PGFOLLOWER_CONFIG. No file at all is allowed. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as a partial config tree. They win over everything. */
  overrides?: Record<string, unknown>;
  require?: readonly RequiredKey[];
}

/**
 * Environment variables honoured, after the file and before flags. PGDATA is libpq/pg_ctl's own
 * name for the data directory; PGHOST/PGPORT/PGUSER are read by libpq for the local server too.
 */
const envKeys: ReadonlyArray<[string, string, 'string' | 'int']> = [
  ['PGFOLLOWER_NODE_NAME', 'node.name', 'string'],
  ['PGFOLLOWER_DATA_DIRECTORY', 'node.dataDirectory', 'string'],
  ['PGDATA', 'node.dataDirectory', 'string'],
  ['PGFOLLOWER_LEADER_CONNINFO', 'leader.conninfo', 'string'],
  ['PGFOLLOWER_HTTP_LISTEN', 'http.listen', 'string'],
  ['PGFOLLOWER_LOG_LEVEL', 'log.level', 'string'],
  ['PGFOLLOWER_BIN_DIR', 'node.binDir', 'string'],
];

/** Alias expansions allowed in a config file: a real one needs a handful. */
const MAX_ALIAS_COUNT = 50;

export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.PGFOLLOWER_CONFIG;
  const problems: ConfigProblem[] = [];
  let tree: Record<string, unknown> = {};

  if (file) {
    tree = readConfigFile(file, problems);
  }
  // PGDATA is the weaker of the two data-directory variables: apply it first.
  const ordered = [...envKeys].sort((a, b) => (a[0] === 'PGDATA' ? -1 : b[0] === 'PGDATA' ? 1 : 0));
  for (const [name, key, kind] of ordered) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (name === 'PGDATA' && getPath(tree, key) !== undefined) continue;
    setPath(tree, key, kind === 'int' ? Number(raw) : raw);
  }
  if (env.PGFOLLOWER_NODE_PORT) setPath(tree, 'node.port', Number(env.PGFOLLOWER_NODE_PORT));
  for (const [key, value] of Object.entries(flatten(options.overrides ?? {}))) {
    if (value !== undefined) setPath(tree, key, value);
  }

  const result = configSchema.safeParse(tree);
  if (!result.success) {
    problems.push(...issuesToProblems(result.error.issues));
  }
  const config = result.success ? result.data : undefined;
  // Required keys are checked even when other keys are wrong, so one run lists every problem.
  for (const key of options.require ?? []) {
    if (getPath(config ? (config as unknown as Record<string, unknown>) : tree, key) === undefined) {
      problems.push({ key, message: requiredMessage(key) });
    }
  }
  if (config) {
    // Root cannot be a PostgreSQL role by default, and pgfollower as root acts for node.osUser.
    if (!config.node.user && !env.PGUSER && typeof process.getuid === 'function' && process.getuid() === 0) {
      config.node.user = config.node.osUser;
    }
    if (config.slot.enabled && !config.slot.name && config.node.name) {
      config.slot.name = defaultSlotName(config.node.name);
    }
  }
  if (problems.length > 0 || !config) {
    throw new ConfigError(problems, file);
  }
  return deepFreeze(config);
}

/** PostgreSQL slot names allow [a-z0-9_]: derive one from the node name. */
function defaultSlotName(nodeName: string): string {
  return nodeName
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63);
}

function requiredMessage(key: RequiredKey): string {
  switch (key) {
    case 'node.name':
      return 'required: a name for this node, e.g. replica-a (or env PGFOLLOWER_NODE_NAME)';
    case 'node.dataDirectory':
      return 'required: the follower data directory (or --data-directory, PGFOLLOWER_DATA_DIRECTORY, PGDATA)';
    case 'leader.conninfo':
      return 'required: how to reach the leader, e.g. "host=10.0.0.1 user=replicator" (or --leader)';
  }
}

function readConfigFile(file: string, problems: ConfigProblem[]): Record<string, unknown> {
  const read = readConfigText(file, problems);
  if (!read) return {};
  const { text, mode } = read;
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors)
      problems.push({ key: '(yaml)', message: e.message.split('\n')[0] ?? e.message });
    return {};
  }
  let value: unknown;
  try {
    // Aliases are expanded here: bound the expansion so a "billion laughs" file (an alias bomb) is a
    // config problem, not minutes of CPU and gigabytes of memory.
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (error) {
    problems.push({
      key: '(yaml)',
      message: `${file} expands YAML aliases too far (${(error as Error).message.split('\n')[0]}); write the values out instead of nesting aliases`,
    });
    return {};
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({
      key: '(top level)',
      message: 'the config file must be a YAML mapping of sections (node:, leader:, ...)',
    });
    return {};
  }
  if ((mode & 0o004) !== 0) {
    const keys = secretKeysIn(value as Record<string, unknown>);
    if (keys.length > 0 || containsSecret(text)) {
      const which = keys.length > 0 ? ` (${keys.join(', ')})` : ' (password or secret key)';
      problems.push({
        key: '(file)',
        message: `${file} holds a secret${which} and is world-readable; run: chmod 600 ${file}`,
      });
    }
  }
  return value as Record<string, unknown>;
}

function containsSecret(text: string): boolean {
  return /password\s*=|:\/\/[^/@\s:]+:[^/@\s]+@|secretAccessKey|routingKey|webhookUrl|sessionToken|authorization/i.test(
    text,
  );
}

function issuesToProblems(issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        problems.push({
          key: base ? `${base}.${k}` : k,
          message: 'unknown key (check spelling; see docs/configuration.md)',
        });
      }
      continue;
    }
    problems.push({ key: base, message: issue.message });
  }
  return problems;
}

function flatten(tree: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

function getPath(tree: Record<string, unknown>, key: string): unknown {
  let node: unknown = tree;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function setPath(tree: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}
