import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  DurableLog,
  LogConsumer,
  Logger,
  PushJob,
  PushKind,
  PushRegistry,
  PushSettings,
  PushSubscription,
  Store,
} from '@switchboard/core';
import type { SwitchboardMetrics } from '@switchboard/metrics';
import type { PushNotification, PushProvider, SendOutcome } from '@switchboard/push';
import { computeRetryDelay } from './backoff.ts';
import { DedupWindow } from './dedup-window.ts';
import { buildNotification } from './notification.ts';
import { Semaphore } from './semaphore.ts';

/** Consumer group of the push worker on the push-jobs log. */
export const PUSH_WORKER_GROUP = 'push-worker';

/** Reason a push job ended without a notification: the `reason` label of switchboard_push_dropped_total. */
export type DropReason =
  'muted' | 'no_subscription' | 'no_provider' | 'duplicate' | 'dead_letter' | 'gone' | 'failed' | 'invalid';

/** Tunables of the push worker; each has an SWB_PUSH_ variable (see config.ts). */
export interface PushWorkerSettings {
  /** At most one notification per (user, conversation) per this many milliseconds. */
  collapseIntervalMs: number;
  /** Sends per subscription, the first included, before the job goes to the dead-letter log. */
  maxAttempts: number;
  /** Upper bound of the first retry delay in milliseconds; it doubles per attempt. */
  backoffBaseMs: number;
  /** Largest retry delay in milliseconds, a Retry-After included. */
  backoffMaxMs: number;
  /** How long a handled job id is remembered to drop replays of it, in milliseconds. */
  dedupWindowMs: number;
  /** Maximum number of job ids remembered; the oldest leave the window first. */
  dedupMaxEntries: number;
  /** Maximum number of requests to push services and registry lookups in flight at once. */
  maxConcurrency: number;
}

export const DEFAULT_PUSH_WORKER_SETTINGS: Readonly<PushWorkerSettings> = Object.freeze({
  collapseIntervalMs: 2000,
  maxAttempts: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  dedupWindowMs: 10 * 60_000,
  dedupMaxEntries: 100_000,
  maxConcurrency: 64,
});

export interface PushWorkerOptions {
  /** The push-jobs log that chat nodes append to. */
  jobs: Pick<DurableLog<PushJob>, 'consume'>;
  /** Log that receives a job after `maxAttempts` sends returned a retry outcome. */
  deadLetters: Pick<DurableLog<PushJob>, 'append'>;
  registry: PushRegistry;
  /** Resolves sender ids to usernames for notification titles; without it a title shows the id. */
  users?: Pick<Store, 'getUser'>;
  /** One provider per kind at most; a subscription of a kind without one is not sent. */
  providers: readonly PushProvider[];
  logger: Logger;
  metrics?: SwitchboardMetrics;
  group?: string;
  settings?: Partial<PushWorkerSettings>;
  /** Uniform draw in [0, 1) for the backoff jitter; Math.random by default. */
  random?: () => number;
}

/** Outcome of the sends of one notification to one subscription. */
type SubscriptionResult = 'sent' | 'gone' | 'failed' | 'exhausted';

/** Thrown out of a wait when the worker stops, so that the batch is not committed. */
class WorkerStoppedError extends Error {
  constructor() {
    super('push worker stopped before the batch finished; it is handed over again at the next start');
    this.name = 'WorkerStoppedError';
  }
}

/** Reasons of switchboard_push_failed_total kept as they come; any further one becomes `other`. */
const MAX_FAILURE_REASONS = 32;

/**
 * Turns push jobs into notifications.
 *
 * Delivery is at least once: the consumer commits a batch only after every job of it was
 * sent, dead-lettered or dropped, so a worker killed mid-batch hands the whole batch to its
 * successor. Job ids handled within `dedupWindowMs` are remembered in memory, so replays of
 * a job inside one process are dropped as duplicates. A restarted worker starts with an empty
 * window and may send a job of the replayed batch again. Such a notification carries the
 * conversation's collapse key, so the device shows it in place of the first one.
 *
 * The jobs of one batch are grouped by (user, conversation) and each group becomes one
 * notification whose `unread` is the number of jobs in it. A group whose last notification is
 * younger than `collapseIntervalMs` waits for the rest of the interval. The jobs that arrive
 * meanwhile stay in the log and are collapsed into the next batch's notification.
 */
export class PushWorker {
  readonly #options: PushWorkerOptions;
  readonly #settings: PushWorkerSettings;
  readonly #logger: Logger;
  readonly #group: string;
  readonly #providers = new Map<PushKind, PushProvider>();
  readonly #dedup: DedupWindow;
  readonly #limiter: Semaphore;
  readonly #random: () => number;
  /** `${user}\n${conv}` to the time of its last notification, oldest first. */
  readonly #lastNotified = new Map<string, number>();
  readonly #failureReasons = new Set<string>();
  #abort = new AbortController();
  #consumer: LogConsumer | null = null;
  #handledJobs = 0;

  constructor(options: PushWorkerOptions) {
    this.#options = options;
    this.#settings = { ...DEFAULT_PUSH_WORKER_SETTINGS, ...options.settings };
    this.#group = options.group ?? PUSH_WORKER_GROUP;
    this.#logger = options.logger.child({ group: this.#group });
    for (const provider of options.providers) this.#providers.set(provider.kind, provider);
    this.#dedup = new DedupWindow({
      windowMs: this.#settings.dedupWindowMs,
      maxEntries: this.#settings.dedupMaxEntries,
    });
    this.#limiter = new Semaphore(this.#settings.maxConcurrency);
    this.#random = options.random ?? Math.random;
  }

  /** Whether the consumer runs: between `start` and `stop`. */
  get running(): boolean {
    return this.#consumer !== null;
  }

  /** Jobs whose outcome is final since start (sent, dead-lettered or dropped), duplicates included. */
  get handledJobs(): number {
    return this.#handledJobs;
  }

  /** Kinds that have a provider, such as `['webpush', 'apns']`. */
  get providerKinds(): PushKind[] {
    return [...this.#providers.keys()];
  }

  async start(): Promise<void> {
    if (this.#consumer !== null) return;
    this.#abort = new AbortController();
    // Every retry or collapse wait of a batch listens on this signal, up to one per job.
    setMaxListeners(0, this.#abort.signal);
    this.#consumer = await this.#options.jobs.consume(this.#group, (jobs) => this.handleBatch(jobs));
    this.#logger.info(
      { providers: this.providerKinds, settings: this.#settings },
      this.#providers.size === 0
        ? 'push worker started without providers; every job is dropped'
        : 'push worker started',
    );
  }

  /**
   * Stops the consumer. Retry and collapse waits in progress are cut short, which leaves their
   * batch uncommitted, so the next start hands it over again.
   */
  async stop(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === null) return;
    this.#abort.abort();
    await consumer.stop();
    this.#consumer = null;
    this.#logger.info({ handledJobs: this.#handledJobs }, 'push worker stopped');
  }

  /**
   * Handles one batch of jobs and resolves when every job of it was sent, dead-lettered or
   * dropped. Rejects when the registry or the dead-letter log fails, or the worker stops, so
   * that the log hands the batch over again. Jobs finished before that are remembered, so the
   * replay drops them as duplicates.
   */
  async handleBatch(jobs: readonly PushJob[]): Promise<void> {
    const groups = new Map<string, PushJob[]>();
    const inBatch = new Set<string>();
    for (const job of jobs) {
      if (!isPushJob(job)) {
        this.#logger.error({ job }, 'malformed push job dropped');
        this.#drop('invalid', 1);
        continue;
      }
      if (inBatch.has(job.id) || this.#dedup.has(job.id)) {
        this.#drop('duplicate', 1);
        continue;
      }
      inBatch.add(job.id);
      const key = `${job.user}\n${job.conv}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = [];
        groups.set(key, group);
      }
      group.push(job);
    }

    const lookups = new BatchLookups(this.#options, this.#limiter);
    const results = await Promise.allSettled(
      [...groups.values()].map((group) => this.#deliverGroup(group.sort(bySeq), lookups)),
    );
    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  async #deliverGroup(jobs: PushJob[], lookups: BatchLookups): Promise<void> {
    const { user, conv } = jobs[0]!;
    if (this.#providers.size === 0) return this.#finish(jobs, 'no_provider');

    const settings = await lookups.settings(user);
    if (settings.muted || settings.mutedConversations.includes(conv)) return this.#finish(jobs, 'muted');
    const subscriptions = await lookups.subscriptions(user);
    if (subscriptions.length === 0) return this.#finish(jobs, 'no_subscription');
    const sendable = subscriptions.filter((subscription) => this.#providers.has(subscription.kind));
    if (sendable.length === 0) return this.#finish(jobs, 'no_provider');

    await this.#awaitCollapseInterval(`${user}\n${conv}`);
    const from = jobs.at(-1)!.from;
    const senderName = settings.previews ? await lookups.username(from) : from;
    const notification = buildNotification(jobs, settings, senderName);
    const attemptsBefore = Math.max(...jobs.map((job) => job.attempts));
    const outcomes = await Promise.all(
      sendable.map((subscription) => this.#sendWithRetries(subscription, notification, attemptsBefore)),
    );

    if (outcomes.some((outcome) => outcome.result === 'sent')) return this.#finish(jobs, null);
    if (outcomes.some((outcome) => outcome.result === 'exhausted')) {
      const attempts = Math.max(...outcomes.map((outcome) => outcome.attempts));
      await this.#options.deadLetters.append(jobs.map((job) => ({ ...job, attempts })));
      this.#logger.warn(
        { user, conv, jobs: jobs.length, attempts },
        'push jobs moved to the dead-letter log after their retries',
      );
      return this.#finish(jobs, 'dead_letter');
    }
    if (outcomes.some((outcome) => outcome.result === 'failed')) return this.#finish(jobs, 'failed');
    return this.#finish(jobs, 'gone');
  }

  /** Sends to one subscription until it is sent, gone, failed, or out of attempts. */
  async #sendWithRetries(
    subscription: PushSubscription,
    notification: PushNotification,
    attemptsBefore: number,
  ): Promise<{ result: SubscriptionResult; attempts: number }> {
    // #deliverGroup passes only subscriptions whose kind has a provider.
    const provider = this.#providers.get(subscription.kind)!;
    const kind = provider.kind;
    const metrics = this.#options.metrics;

    for (let attempt = attemptsBefore + 1; ; attempt++) {
      const outcome = await this.#limiter.run(() => this.#send(provider, subscription, notification));
      switch (outcome.outcome) {
        case 'sent':
          metrics?.pushSent.inc({ provider: kind });
          return { result: 'sent', attempts: attempt };
        case 'gone':
          await this.#limiter.run(() =>
            this.#options.registry.removeSubscription(subscription.user, subscription.id),
          );
          this.#logger.info(
            {
              user: subscription.user,
              subscription: subscription.id,
              provider: kind,
              reason: outcome.reason,
            },
            'push subscription removed because the push service reported it gone',
          );
          return { result: 'gone', attempts: attempt };
        case 'failed':
          metrics?.pushFailed.inc({ provider: kind, reason: this.#failureReason(outcome.reason) });
          this.#logger.warn(
            {
              user: subscription.user,
              subscription: subscription.id,
              provider: kind,
              reason: outcome.reason,
            },
            'push send rejected',
          );
          return { result: 'failed', attempts: attempt };
        case 'retry': {
          if (attempt >= this.#settings.maxAttempts) {
            metrics?.pushFailed.inc({ provider: kind, reason: 'retries_exhausted' });
            this.#logger.warn(
              {
                user: subscription.user,
                subscription: subscription.id,
                provider: kind,
                attempt,
                reason: outcome.reason,
              },
              'push send out of retries',
            );
            return { result: 'exhausted', attempts: attempt };
          }
          metrics?.pushRetried.inc({ provider: kind });
          const delayMs = computeRetryDelay(
            { baseMs: this.#settings.backoffBaseMs, maxMs: this.#settings.backoffMaxMs },
            attempt,
            outcome.retryAfterMs,
            this.#random,
          );
          this.#logger.debug(
            { subscription: subscription.id, provider: kind, attempt, delayMs, reason: outcome.reason },
            'push send retried',
          );
          await this.#wait(delayMs);
        }
      }
    }
  }

  /** Calls the provider once and times it; a thrown error counts as a retry. */
  async #send(
    provider: PushProvider,
    subscription: PushSubscription,
    notification: PushNotification,
  ): Promise<SendOutcome> {
    const stopTimer = this.#options.metrics?.pushSendSeconds.startTimer({ provider: provider.kind });
    try {
      return await provider.send(subscription, notification);
    } catch (err) {
      this.#logger.error(
        { err, provider: provider.kind, subscription: subscription.id },
        'push provider threw',
      );
      return { outcome: 'retry', reason: 'provider_error' };
    } finally {
      stopTimer?.();
    }
  }

  /** Waits until the last notification of `key` is `collapseIntervalMs` old, then marks a new one. */
  async #awaitCollapseInterval(key: string): Promise<void> {
    // NOTE: the wait holds the whole batch, so a conversation that receives without pause slows
    // its log partition to one batch per interval.
    const interval = this.#settings.collapseIntervalMs;
    const last = this.#lastNotified.get(key);
    if (last !== undefined) {
      const remaining = last + interval - Date.now();
      if (remaining > 0) await this.#wait(remaining);
    }
    const now = Date.now();
    this.#lastNotified.delete(key);
    this.#lastNotified.set(key, now);
    // Entries are in time order, so the expired ones are at the front.
    for (const [oldest, at] of this.#lastNotified) {
      if (at + interval > now) break;
      this.#lastNotified.delete(oldest);
    }
  }

  async #wait(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) throw new WorkerStoppedError();
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      throw new WorkerStoppedError();
    }
  }

  /** Records the final outcome of `jobs`: sent when `reason` is null, dropped otherwise. */
  #finish(jobs: readonly PushJob[], reason: DropReason | null): void {
    for (const job of jobs) this.#dedup.add(job.id);
    this.#handledJobs += jobs.length;
    if (reason !== null) this.#drop(reason, jobs.length);
  }

  #drop(reason: DropReason, count: number): void {
    this.#options.metrics?.pushDropped.inc({ reason }, count);
    if (reason === 'duplicate' || reason === 'invalid') this.#handledJobs += count;
  }

  /** Keeps the `reason` label bounded: a short word, and `other` past MAX_FAILURE_REASONS values. */
  #failureReason(reason: string): string {
    const label = reason
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 40);
    if (label === '') return 'other';
    if (this.#failureReasons.has(label)) return label;
    if (this.#failureReasons.size >= MAX_FAILURE_REASONS) return 'other';
    this.#failureReasons.add(label);
    return label;
  }
}

/** Settings, subscriptions and sender names, each read once per user and batch. */
class BatchLookups {
  readonly #registry: PushRegistry;
  readonly #users: Pick<Store, 'getUser'> | undefined;
  readonly #logger: Logger;
  readonly #limiter: Semaphore;
  readonly #settings = new Map<string, Promise<PushSettings>>();
  readonly #subscriptions = new Map<string, Promise<PushSubscription[]>>();
  readonly #usernames = new Map<string, Promise<string>>();

  constructor(options: PushWorkerOptions, limiter: Semaphore) {
    this.#registry = options.registry;
    this.#users = options.users;
    this.#logger = options.logger;
    this.#limiter = limiter;
  }

  /** Returns the username of `id`, or `id` itself when there is no lookup or it fails. */
  username(id: string): Promise<string> {
    const users = this.#users;
    if (users === undefined) return Promise.resolve(id);
    let pending = this.#usernames.get(id);
    if (pending === undefined) {
      pending = this.#limiter
        .run(() => users.getUser(id))
        .then(
          (user) => user?.username ?? id,
          (err: unknown) => {
            this.#logger.warn({ err, user: id }, 'sender lookup failed; the notification title shows the id');
            return id;
          },
        );
      this.#usernames.set(id, pending);
    }
    return pending;
  }

  settings(user: string): Promise<PushSettings> {
    let pending = this.#settings.get(user);
    if (pending === undefined) {
      pending = this.#limiter.run(() => this.#registry.getSettings(user));
      this.#settings.set(user, pending);
    }
    return pending;
  }

  subscriptions(user: string): Promise<PushSubscription[]> {
    let pending = this.#subscriptions.get(user);
    if (pending === undefined) {
      pending = this.#limiter.run(() => this.#registry.listSubscriptions(user));
      this.#subscriptions.set(user, pending);
    }
    return pending;
  }
}

function bySeq(a: PushJob, b: PushJob): number {
  return a.seq - b.seq;
}

function isPushJob(value: unknown): value is PushJob {
  if (typeof value !== 'object' || value === null) return false;
  const job = value as Partial<PushJob>;
  return (
    typeof job.id === 'string' &&
    typeof job.user === 'string' &&
    typeof job.conv === 'string' &&
    typeof job.seq === 'number' &&
    typeof job.from === 'string' &&
    (job.kind === 'message' || job.kind === 'channel') &&
    typeof job.attempts === 'number'
  );
}
