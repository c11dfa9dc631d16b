import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory } from './log-segments.ts';

/**
 * Reads the committed offset of a consumer group, 0 when the group never committed.
 *
 * Throws when the file exists but does not contain a non-negative integer.
 */
export async function readGroupOffset(groupsDir: string, group: string): Promise<number> {
  const path = join(groupsDir, `${group}.offset`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const offset = Number(text.trim());
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new Error(`group offset file ${path} contains ${JSON.stringify(text)}, expected an integer`);
  }
  return offset;
}

/**
 * Writes the committed offset of a consumer group atomically.
 *
 * The value goes to a temporary file that is fsynced and then renamed over the old one,
 * and the directory is fsynced, so a crash leaves either the old or the new offset.
 */
export async function writeGroupOffset(groupsDir: string, group: string, offset: number): Promise<void> {
  const path = join(groupsDir, `${group}.offset`);
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(`${offset}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(groupsDir);
}
