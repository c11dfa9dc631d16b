import { createLogger, type Logger } from './logger.ts';

/** Outcome of one readiness check, as `GET /readyz` reports it. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Reason the check failed, absent when it passed. */
  error?: string;
}

/** Body of `GET /readyz`: ready only when every check passed. */
export interface ReadinessReport {
  status: 'ready' | 'not ready';
  checks: CheckResult[];
}

export interface DependencyProbeOptions {
  /** Name in the readiness report, such as `bus`, `log` or `store`. */
  name: string;
  /** One cheap request to the dependency; it fails by rejecting. */
  check: () => Promise<unknown>;
  /**
   * Milliseconds during which the last known outcome is reused without a new check, 5000 by
   * default. Outcomes come from checks and from `noteSuccess`/`noteFailure`.
   */
  freshMs?: number;
  /** Milliseconds after which a check counts as failed, 2000 by default. */
  timeoutMs?: number;
  /** Clock in milliseconds, `Date.now` by default. Tests move it. */
  now?: () => number;
  logger?: Logger;
}

/**
 * Conversation id whose head a store readiness check reads. It has neither the `d.` nor the
 * `g.` prefix of conversation ids, so no conversation has it, and the read is one lookup by
 * primary key that finds nothing.
 */
export const READINESS_PROBE_CONVERSATION = 'readiness-probe';

const DEFAULT_FRESH_MS = 5000;
const DEFAULT_TIMEOUT_MS = 2000;

/**
 * Tracks whether one dependency (bus, log, store) is reachable.
 *
 * Callers on the request path report each outcome with `noteSuccess` and `noteFailure`, which
 * cost one clock read. `probe` reuses the last outcome while it is fresh, so a busy service
 * passes readiness probes without any extra round trip. Only an idle one runs `check`, at
 * most once per `freshMs`, and concurrent probes share that check.
 */
export class DependencyProbe {
  readonly name: string;
  readonly #check: () => Promise<unknown>;
  readonly #freshMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #ok = false;
  /** Time of the last outcome, 0 when none is known. */
  #outcomeAt = 0;
  #error = 'not checked yet';
  #inFlight: Promise<CheckResult> | null = null;
  #checksRun = 0;
  #failing = false;

  constructor(options: DependencyProbeOptions) {
    this.name = options.name;
    this.#check = options.check;
    this.#freshMs = options.freshMs ?? DEFAULT_FRESH_MS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? createLogger('health');
  }

  /** Number of times `check` ran, for tests that count round trips. */
  get checksRun(): number {
    return this.#checksRun;
  }

  /** Records that a call to the dependency succeeded. */
  noteSuccess(): void {
    this.#ok = true;
    this.#outcomeAt = this.#now();
    if (this.#failing) this.#recovered();
  }

  /** Records that a call to the dependency failed. */
  noteFailure(err: unknown): void {
    this.#ok = false;
    this.#outcomeAt = this.#now();
    this.#error = describeError(err);
    if (!this.#failing) {
      this.#failing = true;
      this.#logger.warn({ err, dependency: this.name }, 'dependency unavailable');
    }
  }

  /** Returns the dependency's state, running `check` only when no fresh outcome is known. */
  probe(): Promise<CheckResult> {
    if (this.#outcomeAt !== 0 && this.#now() - this.#outcomeAt < this.#freshMs) {
      return Promise.resolve(this.#result());
    }
    this.#inFlight ??= this.#runCheck().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #runCheck(): Promise<CheckResult> {
    this.#checksRun++;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`check timed out after ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([this.#check(), timeout]);
      this.noteSuccess();
    } catch (err) {
      this.noteFailure(err);
    } finally {
      clearTimeout(timer);
    }
    return this.#result();
  }

  #result(): CheckResult {
    return this.#ok ? { name: this.name, ok: true } : { name: this.name, ok: false, error: this.#error };
  }

  #recovered(): void {
    this.#failing = false;
    this.#logger.info({ dependency: this.name }, 'dependency available again');
  }
}

/** A readiness condition that needs no I/O, such as "the ring has members". */
export interface ReadinessCondition {
  name: string;
  /** Returns null when the condition holds, or the reason it does not. */
  failure: () => string | null;
}

/**
 * The readiness of a service: conditions on its own state plus one probe per dependency.
 *
 * Kubernetes stops routing traffic to a pod whose `/readyz` fails, so a check belongs here
 * only when the service cannot do its work without it.
 */
export class Readiness {
  readonly #probes: DependencyProbe[];
  readonly #conditions: ReadinessCondition[];

  constructor(options: { probes?: DependencyProbe[]; conditions?: ReadinessCondition[] } = {}) {
    this.#probes = [...(options.probes ?? [])];
    this.#conditions = [...(options.conditions ?? [])];
  }

  /** Returns the probe named `name`, for callers that report outcomes to it. */
  probe(name: string): DependencyProbe | undefined {
    return this.#probes.find((probe) => probe.name === name);
  }

  /** Adds a condition, such as "not draining", after construction. */
  addCondition(condition: ReadinessCondition): void {
    this.#conditions.push(condition);
  }

  /** Evaluates every condition and probes every dependency in parallel. */
  async report(): Promise<ReadinessReport> {
    const checks: CheckResult[] = this.#conditions.map((condition) => {
      const failure = condition.failure();
      return failure === null
        ? { name: condition.name, ok: true }
        : { name: condition.name, ok: false, error: failure };
    });
    checks.push(...(await Promise.all(this.#probes.map((probe) => probe.probe()))));
    const ready = checks.every((check) => check.ok);
    return { status: ready ? 'ready' : 'not ready', checks };
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
