import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../../..');

/** Exit code and output of a process started by runEntry. */
export interface EntryOutcome {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a service entry point such as `services/router/src/main.ts` with tsx, with the `SWB_`
 * variables of this process removed and `env` added, and resolves when it exits.
 *
 * Meant for start-up failures, which exit at once: a process still running after `timeoutMs`
 * is killed and the promise rejects.
 */
export function runEntry(
  entry: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<EntryOutcome> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SWB_')));
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolveOutcome, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} still ran after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveOutcome({ code, stdout, stderr });
    });
  });
}
