import { ArchiveError } from '../../errors.js';

/**
 * The refusal when an archived object would decompress past one WAL segment (`maxBytes`): no
 * object wal-push wrote does, so it is damaged or planted, and nothing past the limit is written.
 * `what` says how much it would produce when known (`"20000000 bytes"`, `"up to 4 GB"`).
 */
export function decompressedTooLarge(codec: string, maxBytes: number, what?: string): ArchiveError {
  return new ArchiveError(
    `decompressing (${codec}) would produce ${what ? `${what}, ` : ''}more than a WAL segment (${maxBytes} bytes); refused`,
    {
      code: 'ARCHIVE_CORRUPT',
      hint: 'the archived object is not one wal-push wrote (damaged or planted); remove it and re-archive the segment from the leader if it still has it',
    },
  );
}
