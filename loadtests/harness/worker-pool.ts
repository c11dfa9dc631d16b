/**
 * Coordinator side of the load workers: starts them as child processes, each bound to its
 * own loopback source address, and sends them requests over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { WorkerReply, WorkerRequest } from './load-worker.ts';

const WORKER = resolve(import.meta.dirname, 'load-worker.ts');

/** One worker process and the source address its connections use. */
export class LoadWorker {
  readonly child: ChildProcess;
  readonly localAddress: string;
  #waiting: ((reply: WorkerReply) => void) | null = null;
  #exit: Promise<void>;

  constructor(localAddress: string) {
    this.localAddress = localAddress;
    this.child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      env: { ...process.env, SWB_HARNESS_LOCAL_ADDRESS: localAddress },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: WorkerReply) => {
      const waiting = this.#waiting;
      this.#waiting = null;
      waiting?.(message);
    });
    this.#exit = new Promise((resolveExit) => this.child.once('exit', () => resolveExit()));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends one request and waits for its reply; a `failed` reply or a timeout throws. */
  request<T extends WorkerReply['type']>(
    message: WorkerRequest,
    expected: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerReply, { type: T }>> {
    if (this.#waiting !== null) throw new Error('a request to this worker is already in flight');
    return new Promise((resolveReply, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = null;
        reject(new Error(`worker ${this.localAddress} sent no ${expected} reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(
          new Error(`worker ${this.localAddress} exited with ${code} while a ${message.type} was running`),
        );
      };
      this.child.once('exit', onExit);
      this.#waiting = (reply) => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        if (reply.type === expected) resolveReply(reply as Extract<WorkerReply, { type: T }>);
        else if (reply.type === 'failed') reject(new Error(`worker ${this.localAddress}: ${reply.message}`));
        else reject(new Error(`worker ${this.localAddress} sent ${reply.type}, expected ${expected}`));
      };
      this.child.send(message);
    });
  }

  /** Asks the worker to exit and waits; kills it after 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies WorkerRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.#exit;
    clearTimeout(timer);
  }
}

/**
 * Starts `count` workers on source addresses 127.0.0.<firstOctet>, 127.0.0.<firstOctet + 1>,
 * ... Linux routes all of 127.0.0.0/8 to the loopback device, so no setup is needed.
 */
export function startWorkers(count: number, firstOctet = 2): LoadWorker[] {
  if (firstOctet + count > 255) throw new Error(`no room for ${count} workers from 127.0.0.${firstOctet}`);
  return Array.from({ length: count }, (_, i) => new LoadWorker(`127.0.0.${firstOctet + i}`));
}

/** Splits `items` into `parts` lists of nearly equal length, in order. */
export function splitEvenly<T>(items: T[], parts: number): T[][] {
  const lists: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => lists[i % parts]!.push(item));
  return lists;
}
