import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ArchiveError, UsageError } from '../../errors.js';
import type { ArchiveStore, StoredObject } from './store.js';

/**
 * Client-side encryption of every archive object (WAL, history files, base backup parts and
 * manifests): AES-256-GCM from node:crypto, a fresh 96-bit IV per object, the object's key (its
 * name in the archive) bound in as additional data so objects cannot be swapped. Each object says
 * which key encrypted it, in its own first bytes (the fs store keeps no metadata) and in the
 * object metadata `key-id` on S3, so keys can be rotated: new objects use the current key, old
 * ones are read with a previous key. docs/archive.md#encryption.
 *
 *     "PGFE1" | key id (16 ASCII hex) | IV (12) | ciphertext | GCM tag (16)
 *
 * The key id is the first 16 hex digits of the key's SHA-256: it names a key without revealing it.
 */
const MAGIC = Buffer.from('PGFE1', 'ascii');
const KEY_ID_LENGTH = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = MAGIC.length + KEY_ID_LENGTH + IV_LENGTH;

export interface Keyring {
  current: { id: string; key: Buffer };
  /** Every key that may decrypt, by id (current included). */
  byId: Map<string, Buffer>;
  /** Read objects written before encryption was turned on. */
  allowPlaintext: boolean;
}

interface EncryptionSettings {
  keyFile?: string | undefined;
  keyEnv?: string | undefined;
  previousKeyFiles: readonly string[];
  allowPlaintext: boolean;
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, KEY_ID_LENGTH);
}

/** A 256-bit key written as 64 hex digits or base64 (e.g. `openssl rand -hex 32`). */
export function parseKey(text: string, where: string): Buffer {
  const value = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(value) && key.toString('base64') !== value)) {
    throw new UsageError(`${where} does not hold a 256-bit key (64 hex digits or 44 base64 characters)`, {
      hint: 'create one with: openssl rand -hex 32 > /etc/pgfollower/archive.key && chmod 600 /etc/pgfollower/archive.key',
    });
  }
  return key;
}

function readKeyFile(path: string): Buffer {
  let text: string;
  try {
    if ((statSync(path).mode & 0o004) !== 0) {
      throw new UsageError(`the archive key file ${path} is world-readable`, { hint: `chmod 600 ${path}` });
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read the archive key file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        hint: 'archive.encryption.keyFile must be readable by the PostgreSQL OS user (archive_command and restore_command run as it)',
      },
    );
  }
  return parseKey(text, path);
}

/** The configured keys; undefined when encryption is off. */
export function loadKeyring(
  settings: EncryptionSettings | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Keyring | undefined {
  if (!settings) return undefined;
  let key: Buffer;
  if (settings.keyFile) key = readKeyFile(settings.keyFile);
  else {
    const name = settings.keyEnv as string;
    const value = env[name];
    if (!value) {
      throw new UsageError(`archive.encryption.keyEnv names ${name}, which is not set`, {
        hint: `set ${name} in the environment of pgfollower and of PostgreSQL (archive_command and restore_command inherit the server's), or use keyFile`,
      });
    }
    key = parseKey(value, `environment variable ${name}`);
  }
  const current = { id: keyIdOf(key), key };
  const byId = new Map<string, Buffer>([[current.id, key]]);
  for (const file of settings.previousKeyFiles) {
    const old = readKeyFile(file);
    byId.set(keyIdOf(old), old);
  }
  return { current, byId, allowPlaintext: settings.allowPlaintext };
}

function isEncrypted(body: Buffer): boolean {
  return body.length >= HEADER_LENGTH + TAG_LENGTH && body.subarray(0, MAGIC.length).equals(MAGIC);
}

function encryptObject(keyring: Keyring, objectKey: string, plain: Buffer): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const header = Buffer.concat([MAGIC, Buffer.from(keyring.current.id, 'ascii'), iv]);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(Buffer.concat([header, Buffer.from(objectKey, 'utf8')]));
  return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function decryptObject(keyring: Keyring | undefined, objectKey: string, body: Buffer): Buffer {
  if (!isEncrypted(body)) {
    if (!keyring || keyring.allowPlaintext) return body;
    throw new ArchiveError(`${objectKey} is not encrypted, and archive.encryption.allowPlaintext is off`, {
      code: 'ARCHIVE_CORRUPT',
      hint: 'someone wrote to the archive without the key; investigate before trusting it',
    });
  }
  const keyId = body.subarray(MAGIC.length, MAGIC.length + KEY_ID_LENGTH).toString('ascii');
  if (!keyring) {
    throw new ArchiveError(
      `${objectKey} is encrypted (key id ${keyId}) and no archive.encryption key is configured`,
      {
        code: 'ARCHIVE_KEY_MISSING',
        hint: 'set archive.encryption.keyFile (or keyEnv) to the key with this id; see docs/archive.md#encryption',
      },
    );
  }
  const key = keyring.byId.get(keyId);
  if (!key) {
    throw new ArchiveError(
      `${objectKey} is encrypted with key id ${keyId}, which is not among the configured keys (${[...keyring.byId.keys()].join(', ')})`,
      {
        code: 'ARCHIVE_KEY_MISSING',
        hint: 'add the old key to archive.encryption.previousKeyFiles',
      },
    );
  }
  const header = body.subarray(0, HEADER_LENGTH);
  const iv = body.subarray(MAGIC.length + KEY_ID_LENGTH, HEADER_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  decipher.setAAD(Buffer.concat([header, Buffer.from(objectKey, 'utf8')]));
  decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
  try {
    return Buffer.concat([
      decipher.update(body.subarray(HEADER_LENGTH, body.length - TAG_LENGTH)),
      decipher.final(),
    ]);
  } catch (error) {
    throw new ArchiveError(`${objectKey} fails authentication (damaged, or moved from another name)`, {
      code: 'ARCHIVE_CORRUPT',
      cause: error,
      hint: 'the archived copy cannot be trusted; if the leader still has it, streaming can supply it',
    });
  }
}

/**
 * The store with encryption on put and decryption on get. Always applied (with no keyring when
 * encryption is off), so an encrypted object read without a key fails clearly instead of as
 * "corrupt WAL". Sizes reported by head and list are the stored ones: -1 (unknown) while
 * encryption is on, so callers comparing plaintext sizes do not mistake the overhead for damage.
 */
export function withEncryption(inner: ArchiveStore, keyring: Keyring | undefined): ArchiveStore {
  const decrypted = (object: StoredObject | undefined): StoredObject | undefined => {
    if (!object) return undefined;
    const body = decryptObject(keyring, object.key, object.body);
    return body === object.body ? object : { ...object, body, size: body.length };
  };
  return {
    description: inner.description,
    async put(key, body, metadata, signal) {
      if (!keyring) return inner.put(key, body, metadata, signal);
      return inner.put(
        key,
        encryptObject(keyring, key, body),
        { ...metadata, encryption: 'aes-256-gcm', 'key-id': keyring.current.id },
        signal,
      );
    },
    async get(key, signal) {
      return decrypted(await inner.get(key, signal));
    },
    async head(key, signal) {
      const info = await inner.head(key, signal);
      return info && keyring ? { ...info, size: -1 } : info;
    },
    async list(prefix, options) {
      const objects = await inner.list(prefix, options);
      return keyring ? objects.map((o) => ({ ...o, size: -1 })) : objects;
    },
    delete: (key, signal) => inner.delete(key, signal),
    ...(inner.orphanedSidecars ? { orphanedSidecars: inner.orphanedSidecars.bind(inner) } : {}),
    close: () => inner.close(),
  };
}
