import { open, type FileHandle } from 'node:fs/promises';
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES, hasValidChecksum } from './log-frame.ts';

/** Bytes read from disk at a time; frames are parsed out of this window. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Result of reading the frame at one file position.
 *
 * `payload` is a view into the reader's buffer and is valid only until the next read.
 */
export type FrameRead =
  { kind: 'frame'; payload: Buffer; next: number } | { kind: 'end' } | { kind: 'invalid'; reason: string };

/**
 * Sequential, buffered reader of the frames in one segment file.
 *
 * It reads the file in 1 MiB chunks and parses frames out of the chunk in memory, so
 * reading a batch of records costs one system call per chunk, not one per record.
 */
export class FrameReader {
  readonly #handle: FileHandle;
  #buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  /** File position of `#buffer[0]`. */
  #bufferStart = 0;
  #bufferLength = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** Opens a segment file for reading. */
  static async open(path: string): Promise<FrameReader> {
    return new FrameReader(await open(path, 'r'));
  }

  /**
   * Reads the frame that starts at `position`, looking at no byte at or past `limit`.
   *
   * Returns `end` when `position` equals `limit`, and `invalid` when the bytes there are not
   * a whole frame with a matching checksum (a torn write, or garbage after one).
   */
  async readAt(position: number, limit: number): Promise<FrameRead> {
    if (position >= limit) return { kind: 'end' };
    if (limit - position < FRAME_HEADER_BYTES) return { kind: 'invalid', reason: 'incomplete header' };

    const header = await this.#view(position, FRAME_HEADER_BYTES, limit);
    const length = header.readUInt32LE(0);
    const checksum = header.readUInt32LE(4);
    // A zero length is rejected too: a file system may leave a crashed tail filled with
    // zeros, and zero bytes would otherwise parse as an empty frame with a valid CRC32.
    if (length === 0 || length > MAX_FRAME_PAYLOAD_BYTES) {
      return { kind: 'invalid', reason: 'invalid length' };
    }
    const next = position + FRAME_HEADER_BYTES + length;
    if (next > limit) return { kind: 'invalid', reason: 'incomplete payload' };

    const payload = await this.#view(position + FRAME_HEADER_BYTES, length, limit);
    if (!hasValidChecksum(payload, checksum)) return { kind: 'invalid', reason: 'checksum mismatch' };
    return { kind: 'frame', payload, next };
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }

  /** Returns bytes [position, position + length) of the file, reading a new chunk when needed. */
  async #view(position: number, length: number, limit: number): Promise<Buffer> {
    const offset = position - this.#bufferStart;
    if (offset < 0 || offset + length > this.#bufferLength) {
      await this.#fill(position, length, limit);
      return this.#buffer.subarray(0, length);
    }
    return this.#buffer.subarray(offset, offset + length);
  }

  async #fill(position: number, length: number, limit: number): Promise<void> {
    const wanted = Math.min(Math.max(READ_CHUNK_BYTES, length), limit - position);
    if (this.#buffer.length < wanted) this.#buffer = Buffer.allocUnsafe(wanted);
    let filled = 0;
    while (filled < wanted) {
      const { bytesRead } = await this.#handle.read(this.#buffer, filled, wanted - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.#bufferStart = position;
    this.#bufferLength = filled;
    if (filled < length) {
      throw new Error(`segment file ended at byte ${position + filled}, expected ${length} bytes there`);
    }
  }
}
