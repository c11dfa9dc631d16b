import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatLogLine } from '@switchboard/core';

const ROOT = resolve(import.meta.dirname, '../../..');

export type ServiceName = 'router' | 'api' | 'chat-node' | 'persister' | 'push-worker';

export interface ClusterProcessesOptions {
  /** Environment shared by every process: engines, token secret, limits. */
  env: Record<string, string>;
  chatNodes: number;
  /** Directory for one log file per process. */
  logDir: string;
  /** Also print every log line, formatted, on this process's stdout. */
  echo?: boolean;
  /** Milliseconds to wait for each process to report ready. */
  readyTimeoutMs?: number;
  /**
   * Ports of the API, the router, the first chat node (the others follow) and the persister's
   * operations server. 0 picks free ones, and so does a port left out.
   */
  ports?: {
    api: number;
    router: number;
    chatBase: number;
    persisterOperations?: number;
    pushWorkerOperations?: number;
  };
  /**
   * Also starts the push worker, with the SWB_PUSH_ providers and settings of `env`; off by
   * default. Without providers it consumes the push-jobs topic and drops every job.
   */
  pushWorker?: boolean;
  /** Node options put before the script of each chat-node process, such as `--cpu-prof`. */
  chatNodeArgs?: string[];
}

/** One running service process. */
export class ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** HTTP origin or WebSocket URL the process reported, once ready. */
  address = '';
  /** Origin of the process's separate /metrics, /healthz and /readyz server (the persister's). */
  operationsUrl = '';
  #exited: Promise<number | null>;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    this.#exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends SIGTERM (a graceful drain) and waits for the exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    await this.#exited;
  }

  /** Sends SIGKILL, as a crash would, and waits for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.#exited;
  }
}

/** The processes of a cluster-profile deployment on this machine. */
export interface ClusterProcesses {
  apiUrl: string;
  routerUrl: string;
  router: ServiceProcess;
  api: ServiceProcess;
  chatNodes: ServiceProcess[];
  persister: ServiceProcess;
  /** The push worker, or null unless `pushWorker` was set. */
  pushWorker: ServiceProcess | null;
  /** Starts a service process again with the same settings, after it was stopped or killed. */
  restart(process: ServiceProcess): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

interface Spec {
  name: string;
  service: ServiceName;
  env: Record<string, string>;
}

/**
 * Starts the router, the API, `chatNodes` chat nodes and the persister as separate
 * processes against the engines named in `env`, and waits until each reports ready.
 */
export async function startClusterProcesses(options: ClusterProcessesOptions): Promise<ClusterProcesses> {
  mkdirSync(options.logDir, { recursive: true });
  const specs = new Map<ServiceProcess, Spec>();
  const started: ServiceProcess[] = [];
  const ports = options.ports ?? { api: 0, router: 0, chatBase: 0 };

  const launch = async (spec: Spec): Promise<ServiceProcess> => {
    const proc = await spawnService(spec, options);
    specs.set(proc, spec);
    started.push(proc);
    return proc;
  };

  try {
    const persister = await launch({
      name: 'persister',
      service: 'persister',
      env: { SWB_METRICS_PORT: String(ports.persisterOperations ?? 0) },
    });
    const pushWorker = options.pushWorker
      ? await launch({
          name: 'push-worker',
          service: 'push-worker',
          env: { SWB_METRICS_PORT: String(ports.pushWorkerOperations ?? 0) },
        })
      : null;
    const chatNodes: ServiceProcess[] = [];
    for (let i = 1; i <= options.chatNodes; i++) {
      chatNodes.push(
        await launch({
          name: `chat-node-${i}`,
          service: 'chat-node',
          env: {
            SWB_NODE_ID: `node-${i}`,
            SWB_CHAT_PORT: String(ports.chatBase === 0 ? 0 : ports.chatBase + i - 1),
          },
        }),
      );
    }
    const router = await launch({
      name: 'router',
      service: 'router',
      env: { SWB_ROUTER_PORT: String(ports.router) },
    });
    const api = await launch({ name: 'api', service: 'api', env: { SWB_API_PORT: String(ports.api) } });

    const cluster: ClusterProcesses = {
      apiUrl: api.address,
      routerUrl: router.address,
      router,
      api,
      chatNodes,
      persister,
      pushWorker,
      async restart(previous) {
        const spec = specs.get(previous);
        if (spec === undefined) throw new Error(`unknown process ${previous.name}`);
        await previous.kill();
        // A restarted chat node keeps its id and its configured port; with port 0 it takes a
        // new one and announces the new URL in the membership.
        const env = spec.env;
        const next = await launch({ ...spec, env });
        const replace = (list: ServiceProcess[]) => {
          const index = list.indexOf(previous);
          if (index >= 0) list[index] = next;
        };
        replace(cluster.chatNodes);
        if (previous === cluster.persister) cluster.persister = next;
        if (previous === cluster.pushWorker) cluster.pushWorker = next;
        if (previous === cluster.router) cluster.router = next;
        if (previous === cluster.api) cluster.api = next;
        return next;
      },
      async stop() {
        await Promise.all(started.map((proc) => proc.stop()));
      },
    };
    return cluster;
  } catch (err) {
    await Promise.all(started.map((proc) => proc.kill()));
    throw err;
  }
}

async function spawnService(spec: Spec, options: ClusterProcessesOptions): Promise<ServiceProcess> {
  const nodeArgs = spec.service === 'chat-node' ? (options.chatNodeArgs ?? []) : [];
  const script = `services/${spec.service}/src/main.ts`;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    // Readiness is read from the JSON log lines, so a pretty SWB_LOG_FORMAT must not leak in.
    env: { ...process.env, ...options.env, ...spec.env, SWB_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new ServiceProcess(spec.name, child);
  const file = createWriteStream(join(options.logDir, `${spec.name}.log`), { flags: 'a' });

  await new Promise<void>((resolveReady, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    const timer = setTimeout(
      () => reject(new Error(`${spec.name} not ready after ${timeoutMs} ms; see ${file.path}`)),
      timeoutMs,
    );
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited with ${code} before it was ready; see ${file.path}`));
    };
    child.once('exit', onExit);
    followLines(child, file, options.echo ?? false, spec.name, (entry) => {
      if (typeof entry.url === 'string' && entry.msg === 'chat node started') proc.address = entry.url;
      const listening = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg ?? ''));
      if (listening && proc.address === '') proc.address = listening[1]!;
      if (typeof entry.url === 'string' && entry.msg === 'operations server listening') {
        proc.operationsUrl = entry.url;
      }
      if (entry.msg === 'service ready') {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolveReady();
      }
    });
  });
  return proc;
}

type LogEntry = Record<string, unknown>;

function followLines(
  child: ChildProcess,
  file: WriteStream,
  echo: boolean,
  name: string,
  onEntry: (entry: LogEntry) => void,
): void {
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        file.write(line + '\n');
        if (echo) process.stdout.write(formatLogLine(name, line) + '\n');
        try {
          onEntry(JSON.parse(line) as LogEntry);
        } catch {
          // Not a JSON log line (a stack trace or a warning from Node); it is in the file.
        }
      }
    });
  }
  child.once('exit', () => file.end());
}
