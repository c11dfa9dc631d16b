import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ClientState, ClientStateStore } from './state-store.ts';

/**
 * Keeps the client state in a JSON file (Node only), so a restarted client resumes its
 * stream position and resends its outbox.
 *
 * Each save writes a temporary file and renames it over the old one, so a crash mid-write
 * leaves the previous state intact.
 */
export class FileStateStore implements ClientStateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Reads the state; returns null when the file does not exist, throws when it is not a state. */
  async load(): Promise<ClientState | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return parseState(text, this.path);
  }

  async save(state: ClientState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, 'utf8');
    await rename(temporary, this.path);
  }
}

function parseState(text: string, path: string): ClientState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`client state file ${path} is not valid JSON; delete it to start fresh`, { cause: err });
  }
  const state = value as Partial<ClientState> | null;
  const valid =
    typeof state === 'object' &&
    state !== null &&
    typeof state.user === 'string' &&
    (state.streamPos === null || typeof state.streamPos === 'number') &&
    typeof state.lastSeq === 'object' &&
    state.lastSeq !== null &&
    Array.isArray(state.outbox);
  if (!valid) {
    throw new Error(
      `client state file ${path} is missing user, streamPos, lastSeq or outbox; delete it to start fresh`,
    );
  }
  return { ...(state as ClientState), heldBack: Array.isArray(state.heldBack) ? state.heldBack : [] };
}
