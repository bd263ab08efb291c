/**
 * Which keys of a config tree (as read from the file, before defaults) carry a secret. A file with
 * any of them must not be world-readable (load.ts). Every secret-bearing key is listed here by its
 * path, so a new one is added in one place: conninfos with a password, webhook URLs (the URL is the
 * credential), request headers, Slack webhook URLs, PagerDuty routing keys, and any URL that
 * carries user info or a token in its query.
 */
export function secretKeysIn(tree: Record<string, unknown>): string[] {
  const found: string[] = [];
  const leader = record(tree.leader);
  if (typeof leader?.conninfo === 'string' && conninfoHasPassword(leader.conninfo)) {
    found.push('leader.conninfo');
  }
  const cluster = record(tree.cluster);
  if (typeof cluster?.primary === 'string' && conninfoHasPassword(cluster.primary)) {
    found.push('cluster.primary');
  }
  if (Array.isArray(cluster?.peers)) {
    cluster.peers.forEach((peer, i) => {
      if (typeof peer === 'string' && (conninfoHasPassword(peer) || urlCarriesSecret(peer)))
        found.push(`cluster.peers.${i}`);
    });
  }
  const s3 = record(record(tree.archive)?.s3);
  if (typeof s3?.endpoint === 'string' && urlCarriesSecret(s3.endpoint)) found.push('archive.s3.endpoint');
  const channels = record(tree.alerts)?.channels;
  if (Array.isArray(channels)) {
    channels.forEach((raw, i) => {
      const channel = record(raw);
      if (!channel) return;
      const at = `alerts.channels.${i}`;
      switch (channel.type) {
        case 'webhook':
          // The docs call webhook URLs secrets: many services put the credential in the path.
          if (typeof channel.url === 'string') found.push(`${at}.url`);
          break;
        case 'slack':
          if (channel.webhookUrl !== undefined) found.push(`${at}.webhookUrl`);
          break;
        case 'pagerduty':
          if (channel.routingKey !== undefined) found.push(`${at}.routingKey`);
          for (const key of ['url', 'changeUrl'])
            if (typeof channel[key] === 'string' && urlCarriesSecret(channel[key]))
              found.push(`${at}.${key}`);
          break;
        case 'command':
          if (Array.isArray(channel.args)) {
            channel.args.forEach((arg, j) => {
              if (typeof arg === 'string' && (conninfoHasPassword(arg) || urlCarriesSecret(arg)))
                found.push(`${at}.args.${j}`);
            });
          }
          break;
      }
      const headers = record(channel.headers);
      for (const name of Object.keys(headers ?? {})) found.push(`${at}.headers.${name}`);
    });
  }
  return found;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function conninfoHasPassword(text: string): boolean {
  return (
    /(^|\s)password\s*=/i.test(text) ||
    /^postgres(ql)?:\/\/[^/@\s:]*:[^/@\s]*@/i.test(text.trim()) ||
    /[?&]password=/i.test(text)
  );
}

/** A URL with user info (`https://user:pw@host`) or a query parameter that names a credential. */
function urlCarriesSecret(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return false;
  }
  if (url.password !== '' || url.username !== '') return true;
  for (const key of url.searchParams.keys()) {
    if (/token|key|secret|sig|signature|password|auth/i.test(key)) return true;
  }
  return false;
}
