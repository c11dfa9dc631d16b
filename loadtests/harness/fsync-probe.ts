/**
 * Measures how long `fdatasync` takes on the file system that stores the embedded profile's
 * log, since the embedded profile acknowledges a send only after its group commit is synced.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FsyncLatency {
  directory: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Appends `samples` blocks of 4 KiB to a scratch file in `base`, each followed by fdatasync. */
export function probeFsync(samples: number, base = tmpdir()): FsyncLatency {
  const dir = mkdtempSync(join(base, 'switchboard-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'a');
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      writeSync(fd, block);
      const started = performance.now();
      fdatasyncSync(fd);
      times.push(performance.now() - started);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round(times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]! * 100) / 100;
  return { directory: base, samples, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
