/**
 * A signal that aborts when `parent` does or after `ms`, whichever comes first, for the duration of
 * `work`. Node 20's `AbortSignal.any([parent, AbortSignal.timeout(ms)])` holds the composed signal
 * only weakly: when garbage collection runs while the work waits (a request to a hung endpoint), the
 * signal is collected and the deadline never fires. Measured: wal-fetch against an S3 endpoint that
 * accepts and never answers hung in 1 run of 3. Here the timer and the parent's listener hold the
 * controller strongly, and both are released when `work` settles.
 */
export async function withDeadline<T>(
  parent: AbortSignal | undefined,
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onAbort, { once: true });
  // The same reason AbortSignal.timeout gives, so callers that tell a timeout apart keep working.
  const timer = setTimeout(
    () => controller.abort(new DOMException(`the operation did not finish within ${ms} ms`, 'TimeoutError')),
    ms,
  );
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onAbort);
  }
}

/** An abort reason as text for a log line: the Error's message, else `fallback` when none was given. */
export function abortReasonText(reason: unknown, fallback: string): string {
  return reason instanceof Error ? reason.message : reason === undefined ? fallback : String(reason);
}
