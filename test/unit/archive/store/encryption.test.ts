import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  keyIdOf,
  loadKeyring,
  parseKey,
  withEncryption,
  type Keyring,
} from '../../../../src/archive/store/encryption.js';
import { createFsStore } from '../../../../src/archive/store/fs-store.js';
import { tempDir } from '../fixtures.js';

const hexKey = 'a'.repeat(64);
const otherKey = 'b'.repeat(64);
async function fsStore(): Promise<{ dir: string; store: ReturnType<typeof createFsStore> }> {
  const dir = await tempDir();
  return { dir, store: createFsStore({ path: dir, fsync: false }) };
}

function keyring(key: string): Keyring {
  const ring = loadKeyring({ keyEnv: 'K', previousKeyFiles: [], allowPlaintext: true }, { K: key });
  if (!ring) throw new Error('no keyring');
  return ring;
}

describe('archive encryption', () => {
  it('stores ciphertext with the key id and reads it back only with the key', async () => {
    const { dir, store } = await fsStore();
    const ring = keyring(hexKey);
    const secret = Buffer.from('account 42 has balance 1000000; '.repeat(100));
    const encrypted = withEncryption(store, ring);
    expect(await encrypted.put('wal/00000001/x', secret, { sha256: 'abc' })).toBe('created');

    const raw = await readFile(join(dir, 'wal/00000001/x'));
    expect(raw.subarray(0, 5).toString()).toBe('PGFE1');
    expect(raw.subarray(5, 21).toString()).toBe(keyIdOf(Buffer.from(hexKey, 'hex')));
    expect(raw.includes(Buffer.from('balance'))).toBe(false);
    expect((await encrypted.get('wal/00000001/x'))?.body.equals(secret)).toBe(true);
    expect((await encrypted.head('wal/00000001/x'))?.size).toBe(-1);

    // Without a key, with a different key: a clear error, never the bytes.
    await expect(withEncryption(store, undefined).get('wal/00000001/x')).rejects.toMatchObject({
      code: 'ARCHIVE_KEY_MISSING',
    });
    await expect(withEncryption(store, keyring(otherKey)).get('wal/00000001/x')).rejects.toMatchObject({
      code: 'ARCHIVE_KEY_MISSING',
    });
  });

  it('detects tampering and an object moved to another name', async () => {
    const { dir, store } = await fsStore();
    const encrypted = withEncryption(store, keyring(hexKey));
    await encrypted.put('a/one', Buffer.from('first object'), {});
    const raw = await readFile(join(dir, 'a/one'));
    const flipped = Buffer.from(raw);
    flipped[40] = (flipped[40] as number) ^ 1;
    await writeFile(join(dir, 'a/two'), flipped);
    await writeFile(join(dir, 'a/three'), raw);
    await expect(encrypted.get('a/two')).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
    await expect(encrypted.get('a/three')).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
  });

  it('rotates keys: new objects use the current key, old ones read with a previous key file', async () => {
    const { dir, store } = await fsStore();
    await withEncryption(store, keyring(hexKey)).put('k/old', Buffer.from('old'), {});
    const oldFile = join(dir, 'old.key');
    await writeFile(oldFile, `${hexKey}\n`, { mode: 0o600 });
    const rotated = loadKeyring(
      { keyEnv: 'K', previousKeyFiles: [oldFile], allowPlaintext: true },
      { K: otherKey },
    );
    const store2 = withEncryption(store, rotated);
    await store2.put('k/new', Buffer.from('new'), {});
    expect((await store2.get('k/old'))?.body.toString()).toBe('old');
    expect((await store2.get('k/new'))?.body.toString()).toBe('new');
    expect((await readFile(join(dir, 'k/new'))).subarray(5, 21).toString()).toBe(
      keyIdOf(Buffer.from(otherKey, 'hex')),
    );
  });

  it('reads plaintext objects only while allowPlaintext is on', async () => {
    const { store } = await fsStore();
    await store.put('p/plain', Buffer.from('plain'), {});
    expect((await withEncryption(store, keyring(hexKey)).get('p/plain'))?.body.toString()).toBe('plain');
    const strict = loadKeyring({ keyEnv: 'K', previousKeyFiles: [], allowPlaintext: false }, { K: hexKey });
    await expect(withEncryption(store, strict).get('p/plain')).rejects.toMatchObject({
      code: 'ARCHIVE_CORRUPT',
    });
  });

  it('refuses keys that are not 256 bits and world-readable key files', async () => {
    expect(() => parseKey('abcd', 'x')).toThrow(/256-bit/);
    expect(parseKey(Buffer.alloc(32, 7).toString('base64'), 'x')).toHaveLength(32);
    const { dir } = await fsStore();
    const file = join(dir, 'k');
    await writeFile(file, hexKey, { mode: 0o644 });
    expect(() => loadKeyring({ keyFile: file, previousKeyFiles: [], allowPlaintext: true })).toThrow(
      /world-readable/,
    );
    expect(() => loadKeyring({ keyEnv: 'MISSING', previousKeyFiles: [], allowPlaintext: true }, {})).toThrow(
      /MISSING, which is not set/,
    );
  });
});
