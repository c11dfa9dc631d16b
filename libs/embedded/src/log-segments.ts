import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@switchboard/core';
import { FrameReader } from './frame-reader.ts';

/** One segment file: the records from offset `base` to `base + records - 1`. */
export interface Segment {
  base: number;
  path: string;
  records: number;
  /** Durable length in bytes; readers never look past it. */
  bytes: number;
}

const SEGMENT_SUFFIX = '.seg';
const SEGMENT_NAME = /^(\d{20})\.seg$/;

/** Returns the path of the segment whose first record has offset `base`. */
export function segmentPath(dir: string, base: number): string {
  return join(dir, `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`);
}

/** Fsyncs a directory so that files created or renamed in it survive a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Loads the segments of `dir` in offset order and repairs the last one.
 *
 * Only the last segment can have a torn tail, because a new segment is created only after
 * every write to the previous one was fsynced. Its frames are checked one by one and the
 * file is truncated at the first frame that is incomplete or fails its CRC32. Earlier
 * segments get their record count from the next segment's base offset.
 */
export async function loadSegments(dir: string, logger: Logger): Promise<Segment[]> {
  const bases = (await readdir(dir))
    .map((name) => SEGMENT_NAME.exec(name)?.[1])
    .filter((base): base is string => base !== undefined)
    .map(Number)
    .sort((a, b) => a - b);

  const segments: Segment[] = [];
  for (const [index, base] of bases.entries()) {
    const path = segmentPath(dir, base);
    const next = bases[index + 1];
    if (next === undefined) {
      segments.push({ base, path, ...(await recoverSegment(path, logger)) });
    } else {
      segments.push({ base, path, records: next - base, bytes: (await stat(path)).size });
    }
  }
  return segments;
}

/** Counts the valid frames of a segment and truncates whatever follows them. */
async function recoverSegment(path: string, logger: Logger): Promise<{ records: number; bytes: number }> {
  const size = (await stat(path)).size;
  const reader = await FrameReader.open(path);
  let position = 0;
  let records = 0;
  try {
    for (;;) {
      const read = await reader.readAt(position, size);
      if (read.kind === 'end') return { records, bytes: position };
      if (read.kind === 'invalid') {
        logger.warn(
          { segment: path, position, droppedBytes: size - position, reason: read.reason },
          'log segment torn tail truncated',
        );
        break;
      }
      position = read.next;
      records += 1;
    }
  } finally {
    await reader.close();
  }

  await truncate(path, position);
  const handle = await open(path, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return { records, bytes: position };
}
