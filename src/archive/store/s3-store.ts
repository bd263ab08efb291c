import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config/schema.js';
import { ArchiveError } from '../../errors.js';
import { withDeadline } from '../../util/deadline.js';
import type { ArchiveStore, ObjectInfo, PutOutcome, StoredObject } from './store.js';

type S3Options = NonNullable<Config['archive']['s3']>;

/** S3 error names that mean "try again later" (besides network errors and 5xx). */
const transientNames = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

/**
 * An S3 (or S3-compatible) archive through @aws-sdk/client-s3. Credentials come from the SDK's
 * default chain (env, shared config/profile, SSO, instance or container role); TLS whenever the
 * endpoint is https (AWS by default). The SDK retries transient failures with jittered backoff
 * (`maxAttempts`). Writes are conditional (`If-None-Match: *`), so two writers cannot replace each
 * other's object on stores that support it; wal-push also re-reads what it wrote (push.ts) for stores
 * that ignore the condition.
 */
export function createS3Store(options: S3Options, timeoutMs: number): ArchiveStore {
  // The SDK is loaded on first use, not at import: it costs hundreds of milliseconds of startup,
  // paid by every archive_command call of an fs archive otherwise.
  type Sdk = typeof import('@aws-sdk/client-s3');
  let loaded: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  let created: S3Client | undefined;
  const s3 = (): Promise<{ sdk: Sdk; client: S3Client }> =>
    (loaded ??= (async () => {
      // The SDK warns on Node < 22 about its future releases: seven lines in the PostgreSQL log on
      // every restore_command call, nothing an operator can act on there (the SDK version is pinned).
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      return import('@aws-sdk/client-s3');
    })().then((sdk) => {
      created = new sdk.S3Client({
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        maxAttempts: options.maxAttempts,
        ...(options.profile ? { profile: options.profile } : {}),
        requestChecksumCalculation:
          options.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
        responseChecksumValidation:
          options.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      });
      return { sdk, client: created };
    }));
  const prefix = options.prefix;
  const bucket = options.bucket;
  let conditionalWrites = true;

  /** Sends one request, aborted at the per-request timeout or when `signal` aborts. */
  const send = <T>(
    signal: AbortSignal | undefined,
    request: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> => withDeadline(signal, timeoutMs, request);

  async function putOnce(input: PutObjectCommandInput, signal?: AbortSignal): Promise<PutOutcome> {
    try {
      const { sdk, client } = await s3();
      await send(signal, (abortSignal) => client.send(new sdk.PutObjectCommand(input), { abortSignal }));
      return 'created';
    } catch (error) {
      const status = httpStatus(error);
      if (status === 412 || errorName(error) === 'PreconditionFailed') return 'exists';
      // 409 ConditionalRequestConflict: a concurrent conditional write of the same key is in flight.
      if (status === 409) return 'exists';
      throw error;
    }
  }

  return {
    description: `s3://${bucket}/${prefix}`,

    async put(key, body, metadata, signal): Promise<PutOutcome> {
      const input: PutObjectCommandInput = {
        Bucket: bucket,
        Key: prefix + key,
        Body: body,
        ContentLength: body.length,
        Metadata: metadata,
        ...(conditionalWrites ? { IfNoneMatch: '*' } : {}),
        ...(options.sse ? { ServerSideEncryption: options.sse } : {}),
        ...(options.sseKmsKeyId ? { SSEKMSKeyId: options.sseKmsKeyId } : {}),
        ...(options.storageClass
          ? { StorageClass: options.storageClass as PutObjectCommandInput['StorageClass'] }
          : {}),
      };
      try {
        return await putOnce(input, signal);
      } catch (error) {
        if (conditionalWrites && (httpStatus(error) === 501 || errorName(error) === 'NotImplemented')) {
          // A store without conditional writes: remember, and rely on head-before-put plus the
          // read-back in push.ts.
          conditionalWrites = false;
          const { IfNoneMatch: _dropped, ...plain } = input;
          try {
            if (await this.head(key, signal)) return 'exists';
            return await putOnce(plain, signal);
          } catch (retryError) {
            throw toArchiveError(retryError, `put ${key}`);
          }
        }
        throw toArchiveError(error, `put ${key}`);
      }
    },

    async get(key, signal): Promise<StoredObject | undefined> {
      try {
        const { sdk, client } = await s3();
        // The body is read within the same deadline: a stream that stalls mid-object is a hang too.
        return await send(signal, async (abortSignal) => {
          const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: prefix + key }), {
            abortSignal,
          });
          if (!out.Body) return undefined;
          // A view of the SDK's array, not a copy: Buffer.from(array) copies 16 MiB element by
          // element, a measured 8 ms per segment and one more buffer for the GC.
          const bytes = await out.Body.transformToByteArray();
          const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          return { key, size: body.length, metadata: out.Metadata ?? {}, body };
        });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw toArchiveError(error, `get ${key}`);
      }
    },

    async head(key, signal): Promise<ObjectInfo | undefined> {
      try {
        const { sdk, client } = await s3();
        const out = await send(signal, (abortSignal) =>
          client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: prefix + key }), { abortSignal }),
        );
        return { key, size: out.ContentLength ?? -1, metadata: out.Metadata ?? {} };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw toArchiveError(error, `head ${key}`);
      }
    },

    async list(keyPrefix, listOptions = {}): Promise<ObjectInfo[]> {
      const out: ObjectInfo[] = [];
      let token: string | undefined;
      try {
        const { sdk, client } = await s3();
        do {
          const command = new sdk.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix + keyPrefix,
            ContinuationToken: token,
            ...(listOptions.startAfter !== undefined && token === undefined
              ? { StartAfter: prefix + listOptions.startAfter }
              : {}),
          });
          const page = await send(listOptions.signal, (abortSignal) => client.send(command, { abortSignal }));
          for (const item of page.Contents ?? []) {
            if (item.Key === undefined) continue;
            out.push({ key: item.Key.slice(prefix.length), size: item.Size ?? -1, metadata: {} });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw toArchiveError(error, `list ${keyPrefix}`);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key, signal): Promise<boolean> {
      try {
        if (!(await this.head(key, signal))) return false;
        const { sdk, client } = await s3();
        await send(signal, (abortSignal) =>
          client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: prefix + key }), { abortSignal }),
        );
        return true;
      } catch (error) {
        throw toArchiveError(error, `delete ${key}`);
      }
    },

    close() {
      created?.destroy();
    },
  };
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return httpStatus(error) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

/** Maps SDK and network errors to ArchiveError, marking what is worth retrying later. */
export function toArchiveError(error: unknown, what: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  const status = httpStatus(error);
  const name = errorName(error) ?? 'Error';
  const networkCode = (error as NodeJS.ErrnoException | undefined)?.code;
  const transient =
    status === undefined ||
    status >= 500 ||
    status === 429 ||
    transientNames.has(name) ||
    (error as { $retryable?: unknown } | undefined)?.$retryable !== undefined;
  // Service errors carry an HTTP status; their message is often empty or generic.
  const detail = status !== undefined ? `${name} (HTTP ${status})` : (error as Error).message;
  return new ArchiveError(`S3 ${what} failed: ${detail}${networkCode ? ` [${networkCode}]` : ''}`, {
    cause: error,
    transient,
    code: status === 403 ? 'ARCHIVE_ACCESS_DENIED' : 'ARCHIVE',
    hint:
      status === 403
        ? 'check the AWS credentials (env, ~/.aws, instance role) and the bucket policy; secrets are never logged'
        : transient
          ? 'the store is unreachable or overloaded; PostgreSQL retries by itself'
          : undefined,
  });
}
