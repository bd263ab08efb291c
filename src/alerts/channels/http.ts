import { DeliveryError } from './channel.js';

/**
 * POSTs JSON with Node's global fetch. 2xx is success; 408, 429 and 5xx are worth another
 * attempt (the receiver is busy or down); other 4xx mean a wrong URL, key or payload, and
 * retrying cannot help. Network errors and timeouts are retryable.
 */
export async function postJson(
  url: string,
  body: unknown,
  options: { headers?: Readonly<Record<string, string>>; signal: AbortSignal; what: string },
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'pgfollower', ...options.headers },
      body: JSON.stringify(body),
      signal: options.signal,
    });
  } catch (error) {
    const reason = options.signal.aborted ? describeAbort(options.signal) : describeNetworkError(error);
    throw new DeliveryError(`${options.what}: ${reason}`, { retryable: true, cause: error });
  }
  // Read the body so the connection can be reused; keep a little of it for the log line.
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const status = response.status;
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  throw new DeliveryError(
    `${options.what}: HTTP ${status}${text ? ` ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`,
    { retryable, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  );
}

function describeAbort(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return 'timed out';
  return 'cancelled';
}

function describeNetworkError(error: unknown): string {
  // undici wraps the socket error as `cause`; its code (ECONNREFUSED, ENOTFOUND) is what helps.
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return `network error ${cause.code}`;
  return error instanceof Error ? error.message : String(error);
}

/** Retry-After in seconds (the HTTP-date form is rare from webhooks; ignored). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value.trim());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
