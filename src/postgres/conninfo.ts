import { parse as parseUri, toClientConfig as pgToClientConfig } from 'pg-connection-string';
import type { ClientConfig } from 'pg';

/**
 * libpq connection strings, both forms: `host=a port=5432 user=x` and `postgresql://x@a:5432/db`.
 * https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING
 */
type Conninfo = Record<string, string>;

export function parseConninfo(text: string): Conninfo {
  const trimmed = text.trim();
  if (/^postgres(ql)?:\/\//.test(trimmed)) return parseUriConninfo(trimmed);
  return parseKeywordValue(trimmed);
}

function parseUriConninfo(text: string): Conninfo {
  const parsed = parseUri(text) as Record<string, unknown>;
  const out: Conninfo = {};
  const map: Record<string, string> = { database: 'dbname' };
  for (const [k, v] of Object.entries(parsed)) {
    // pg-connection-string gives '' for parts the URI leaves out (user, password, host): absent.
    if (v === undefined || v === null || v === '' || typeof v === 'object') continue;
    out[map[k] ?? k] = String(v);
  }
  // pg-connection-string leaves query parameters such as application_name at the top level already.
  return out;
}

function parseKeywordValue(text: string): Conninfo {
  const out: Conninfo = {};
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(text[i] as string)) i++;
  };
  while (true) {
    skipSpace();
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && !/\s/.test(text[i] as string)) i++;
    const key = text.slice(keyStart, i);
    skipSpace();
    if (text[i] !== '=') throw new Error(`conninfo: missing "=" after "${key}"`);
    i++;
    skipSpace();
    let value = '';
    if (text[i] === "'") {
      i++;
      while (i < n && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      if (text[i] !== "'") throw new Error(`conninfo: unterminated quoted value for "${key}"`);
      i++;
    } else {
      while (i < n && !/\s/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
    }
    if (!key) throw new Error('conninfo: empty keyword');
    out[key] = value;
  }
  return out;
}

/** Keyword/value form, quoted as libpq expects; what goes into primary_conninfo. */
export function formatConninfo(info: Conninfo): string {
  return Object.entries(info)
    .map(
      ([k, v]) =>
        `${k}=${v === '' || /[\s'\\]/.test(v) ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : v}`,
    )
    .join(' ');
}

/** Replace any password in a conninfo (either form) so it can be logged or printed. */
export function maskConninfo(text: string): string {
  return text
    .replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1********')
    .replace(/(:\/\/[^/@\s:]*:)[^/@\s]*@/g, '$1********@');
}

/** TLS keywords and the libpq variables that stand for them when the conninfo leaves them out. */
const tlsKeywords: ReadonlyArray<[string, string]> = [
  ['sslmode', 'PGSSLMODE'],
  ['sslrootcert', 'PGSSLROOTCERT'],
  ['sslcert', 'PGSSLCERT'],
  ['sslkey', 'PGSSLKEY'],
];

/**
 * node-postgres's `ssl` option for the conninfo's TLS settings, mapped by pg-connection-string with
 * libpq semantics: `require` encrypts without verifying (unless sslrootcert is given: then as
 * verify-ca), `verify-ca` checks the chain against sslrootcert, `verify-full` also the host name;
 * sslcert/sslkey are the client certificate. `prefer` and `allow` connect without TLS (node-postgres
 * cannot fall back as libpq does), `disable` never uses it. undefined when nothing asks for TLS.
 */
export function toSslConfig(info: Conninfo, env: NodeJS.ProcessEnv = process.env): ClientConfig['ssl'] {
  const params = new URLSearchParams();
  for (const [keyword, variable] of tlsKeywords) {
    const value = info[keyword] ?? env[variable];
    if (value) params.set(keyword, value);
  }
  const mode = params.get('sslmode') ?? 'prefer';
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') {
    return params.has('sslmode') || info.sslmode !== undefined ? false : undefined;
  }
  // Only the TLS part goes through the URI: host, user and password never leave `info`.
  const parsed = parseUri(`postgres://tls/?${params.toString()}`, { useLibpqCompat: true });
  return pgToClientConfig(parsed).ssl;
}

/**
 * node-postgres config for a conninfo. Anything left unset falls back to libpq's PG* variables and
 * ~/.pgpass, which node-postgres reads itself; TLS settings through toSslConfig.
 */
export function toClientConfig(
  info: Conninfo,
  extra: Partial<ClientConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): ClientConfig {
  const config: ClientConfig = { ...extra };
  if (info.host ?? info.hostaddr) config.host = info.hostaddr ?? info.host;
  if (info.port) config.port = Number(info.port);
  if (info.user) config.user = info.user;
  if (info.password) config.password = info.password;
  if (info.dbname) config.database = info.dbname;
  if (info.application_name) config.application_name = info.application_name;
  if (info.connect_timeout) config.connectionTimeoutMillis = Number(info.connect_timeout) * 1000;
  const ssl = toSslConfig(info, env);
  if (ssl !== undefined) config.ssl = ssl;
  return config;
}

/** Where a conninfo points, for messages: `host:port`. */
export function describeConninfo(text: string): string {
  try {
    const info = parseConninfo(text);
    return `${info.host ?? info.hostaddr ?? process.env.PGHOST ?? 'localhost'}:${info.port ?? process.env.PGPORT ?? '5432'}`;
  } catch {
    return maskConninfo(text);
  }
}

/**
 * libpq's environment variables and the keywords they stand for (libpq-envars). PGPASSWORD is not
 * here on purpose: a password is never written into a setting; the follower reads ~/.pgpass.
 * PGAPPNAME neither: application_name names this node (withApplicationName).
 */
const libpqEnvironment: ReadonlyArray<[string, string]> = [
  ['PGHOST', 'host'],
  ['PGHOSTADDR', 'hostaddr'],
  ['PGPORT', 'port'],
  ['PGDATABASE', 'dbname'],
  ['PGUSER', 'user'],
  ['PGPASSFILE', 'passfile'],
  ['PGSERVICE', 'service'],
  ['PGOPTIONS', 'options'],
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCRL', 'sslcrl'],
  ['PGSSLCRLDIR', 'sslcrldir'],
  ['PGSSLSNI', 'sslsni'],
  ['PGREQUIREPEER', 'requirepeer'],
  ['PGGSSENCMODE', 'gssencmode'],
  ['PGKRBSRVNAME', 'krbsrvname'],
  ['PGCHANNELBINDING', 'channel_binding'],
  ['PGCONNECT_TIMEOUT', 'connect_timeout'],
  ['PGTARGETSESSIONATTRS', 'target_session_attrs'],
];

/**
 * The conninfo as libpq resolved it in this process: keywords the text leaves out are filled from
 * libpq's environment variables (PGHOST, PGPORT, PGUSER, ...), never the password. What a follower
 * writes into primary_conninfo must not depend on variables its server will not have after a
 * restart. A hostaddr given by the text also stands for the host (PGHOST is then not added).
 */
export function resolveConninfo(conninfo: string, env: NodeJS.ProcessEnv = process.env): Conninfo {
  const info = parseConninfo(conninfo);
  for (const [variable, keyword] of libpqEnvironment) {
    const value = env[variable];
    if (value === undefined || value === '' || info[keyword] !== undefined) continue;
    if (keyword === 'host' && info.hostaddr !== undefined) continue;
    if (keyword === 'hostaddr' && info.host !== undefined) continue;
    info[keyword] = value;
  }
  return info;
}

/**
 * The primary_conninfo a follower writes: the leader's conninfo as libpq resolved it here
 * (resolveConninfo: PGHOST/PGPORT/... filled in, never a password from the environment), with
 * `application_name` set to the node name, so the leader's pg_stat_replication row names this node.
 * A name the operator already put in the conninfo is kept: bootstrap, rewind, clone and follow all
 * write the same string.
 */
export function withApplicationName(
  conninfo: string,
  name: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const info = resolveConninfo(conninfo, env);
  if (name && !info.application_name) info.application_name = name;
  return formatConninfo(info);
}
