import { FrameReader } from './frame-reader.ts';
import { decodePayload } from './log-frame.ts';
import type { Segment } from './log-segments.ts';

/**
 * Reads records forward from an offset across segment files.
 *
 * The cursor keeps its file position between reads, so each batch continues where the
 * last one stopped instead of scanning its segment from the start. It reads only the
 * durable part of each segment, as published in `segments()`.
 */
export class SegmentCursor {
  readonly #segments: () => readonly Segment[];
  #offset: number;
  #segmentIndex = -1;
  #reader: FrameReader | null = null;
  #position = 0;
  /** Records of the current segment still to skip before `#offset` is reached. */
  #skip = 0;

  constructor(segments: () => readonly Segment[], offset: number) {
    this.#segments = segments;
    this.#offset = offset;
  }

  /** Offset of the next record this cursor returns. */
  get offset(): number {
    return this.#offset;
  }

  /** Reads up to `max` durable records; returns an empty array at the end of the log. */
  async read(max: number): Promise<unknown[]> {
    const records: unknown[] = [];
    while (records.length < max) {
      const segment = await this.#currentSegment();
      if (segment === null) break;

      const read = await this.#reader!.readAt(this.#position, segment.bytes);
      if (read.kind === 'end') {
        if (!(await this.#advanceSegment())) break;
        continue;
      }
      if (read.kind === 'invalid') {
        throw new Error(
          `log segment ${segment.path} is corrupt at byte ${this.#position} (${read.reason}) within its durable length`,
        );
      }

      this.#position = read.next;
      if (this.#skip > 0) {
        this.#skip -= 1;
        continue;
      }
      records.push(decodePayload(read.payload));
      this.#offset += 1;
    }
    return records;
  }

  async close(): Promise<void> {
    await this.#reader?.close();
    this.#reader = null;
  }

  /** Opens the segment that contains `#offset` on the first read. */
  async #currentSegment(): Promise<Segment | null> {
    const segments = this.#segments();
    if (this.#reader !== null) return segments[this.#segmentIndex] ?? null;

    let index = segments.length - 1;
    while (index > 0 && segments[index]!.base > this.#offset) index -= 1;
    const segment = segments[index];
    if (segment === undefined) return null;

    this.#segmentIndex = index;
    this.#reader = await FrameReader.open(segment.path);
    this.#position = 0;
    this.#skip = this.#offset - segment.base;
    return segment;
  }

  /** Moves to the next segment when the current one is sealed; returns false at the log end. */
  async #advanceSegment(): Promise<boolean> {
    const next = this.#segments()[this.#segmentIndex + 1];
    if (next === undefined) return false;
    await this.#reader!.close();
    this.#reader = await FrameReader.open(next.path);
    this.#segmentIndex += 1;
    this.#position = 0;
    this.#skip = 0;
    return true;
  }
}
