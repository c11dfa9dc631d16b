import { crc32 } from 'node:zlib';

/** Bytes before each payload: the payload length and its CRC32, both unsigned 32-bit little-endian. */
export const FRAME_HEADER_BYTES = 8;

/** Largest payload accepted in one frame; a longer length in a header marks a torn or corrupt tail. */
export const MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024;

/**
 * Encodes one record as a frame: length, CRC32 of the payload, then the JSON payload.
 *
 * Throws a RangeError when the payload exceeds MAX_FRAME_PAYLOAD_BYTES.
 */
export function encodeFrame(record: object): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new RangeError(
      `log record is ${payload.length} bytes, expected at most ${MAX_FRAME_PAYLOAD_BYTES} bytes`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Decodes a payload that passed its checksum. */
export function decodePayload(payload: Buffer): unknown {
  return JSON.parse(payload.toString('utf8')) as unknown;
}

/** Checks a payload against the CRC32 from its frame header. */
export function hasValidChecksum(payload: Buffer, checksum: number): boolean {
  return crc32(payload) === checksum;
}
