import type { ChatModel } from './chat-model.ts';
import type { KeyValueStorage } from './local-storage-state-store.ts';

/** localStorage key of this browser's Web Push subscription as the API registered it. */
export const PUSH_SUBSCRIPTION_KEY = 'switchboard.push.subscription';
/** Path of the service worker, served by the same origin as the app. */
export const SERVICE_WORKER_URL = '/sw.js';

/**
 * Time the browser's push service gets to create a subscription. A browser whose push service
 * is unreachable may retry for minutes without rejecting, and the opt-in would stay busy.
 */
export const SUBSCRIBE_TIMEOUT_MS = 15_000;

/** The part of `GET /v1/push/config` that a browser uses. */
interface PushConfigResponse {
  webPush: { vapidPublicKey: string } | null;
}

/** Notification preferences of the user, kept by the API for every device. */
export interface PushPreferences {
  /** Nothing is pushed while true. */
  muted: boolean;
  /** When false, notifications carry neither the sender's name nor the text. */
  previews: boolean;
}

/** Everything the notification settings render. */
export interface PushState {
  /** `ready` once the API's push configuration and the user's preferences arrived. */
  phase: 'idle' | 'loading' | 'failed' | 'ready';
  /** True when the server sends Web Push and the browser has the APIs to subscribe. */
  canSubscribe: boolean;
  /** The browser's permission for notifications, or `unsupported`. */
  permission: NotificationPermission | 'unsupported';
  /** True while this browser has a subscription registered with the API. */
  subscribed: boolean;
  preferences: PushPreferences | null;
  mutedConversations: ReadonlySet<string>;
  busy: boolean;
  /** Outcome of the last action, or why notifications cannot be turned on. */
  message: string | null;
}

/** A subscription registered with the API, saved so that turning notifications off can remove it. */
interface SavedSubscription {
  id: string;
  user: string;
  endpoint: string;
}

type Listener = () => void;

/**
 * Web Push settings of the signed-in user: the opt-in (permission, PushManager subscription,
 * registration with the API), previews, the global mute and the per-conversation mutes. It
 * follows the React external-store contract like ChatModel.
 */
export class PushModel {
  readonly #chat: ChatModel;
  readonly #storage: KeyValueStorage;
  readonly #listeners = new Set<Listener>();
  #vapidKey: string | null = null;
  #state: PushState = {
    phase: 'idle',
    canSubscribe: false,
    permission: currentPermission(),
    subscribed: false,
    preferences: null,
    mutedConversations: new Set(),
    busy: false,
    message: null,
  };

  constructor(chat: ChatModel, storage: KeyValueStorage) {
    this.#chat = chat;
    this.#storage = storage;
  }

  subscribe = (listener: Listener): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = (): PushState => this.#state;

  /**
   * Reads the API's push configuration and the user's preferences, once per sign-in. The
   * preferences apply to every device of the user, so they load even where this browser
   * cannot subscribe.
   */
  async load(): Promise<void> {
    if (this.#state.phase !== 'idle' && this.#state.phase !== 'failed') return;
    this.#set({ phase: 'loading', message: null });
    try {
      const config = await this.#json<PushConfigResponse>('GET', '/v1/push/config');
      this.#vapidKey = config.webPush?.vapidPublicKey ?? null;
      await this.#loadPreferences();
      let message: string | null = null;
      if (this.#vapidKey === null) message = 'This server does not send Web Push notifications.';
      else if (!browserSupportsPush()) message = 'This browser does not support Web Push notifications.';
      const canSubscribe = message === null;
      const subscribed = canSubscribe && (await this.#hasLiveSubscription());
      this.#set({ phase: 'ready', canSubscribe, subscribed, message });
    } catch (err) {
      this.#set({ phase: 'failed', message: `Notification settings could not be loaded: ${describe(err)}` });
    }
  }

  /**
   * Turns notifications on: requests permission, subscribes through the service worker's
   * PushManager with the server's VAPID key, and registers the subscription with the API.
   * A browser without a push service rejects the subscription, and `message` reports it.
   */
  async enable(): Promise<void> {
    const me = this.#chat.getSnapshot().me;
    if (this.#vapidKey === null || me === null || this.#state.busy) return;
    this.#set({ busy: true, message: null });
    try {
      const permission = await Notification.requestPermission();
      this.#set({ permission });
      if (permission !== 'granted') {
        this.#set({
          message:
            permission === 'denied'
              ? 'Notifications are blocked for this site. Allow them in the browser settings to turn them on.'
              : 'Notifications stay off until you allow them.',
        });
        return;
      }
      const registration = await navigator.serviceWorker.register(SERVICE_WORKER_URL);
      await navigator.serviceWorker.ready;
      let subscription: PushSubscription;
      try {
        // NOTE: a subscription that the browser completes after the timeout stays in its
        // PushManager unregistered. The next opt-in gets it back from subscribe() and registers it.
        subscription = await withTimeout(
          registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: decodeBase64Url(this.#vapidKey),
          }),
          SUBSCRIBE_TIMEOUT_MS,
          `its push service did not answer within ${SUBSCRIBE_TIMEOUT_MS / 1000} s`,
        );
      } catch (err) {
        this.#set({ message: `This browser could not subscribe to push notifications: ${describe(err)}` });
        return;
      }
      const json = subscription.toJSON();
      const response = await this.#chat.apiFetch('POST', '/v1/push/subscriptions', {
        kind: 'webpush',
        endpoint: subscription.endpoint,
        keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' },
      });
      if (response.status !== 201) {
        await subscription.unsubscribe().catch(() => false);
        throw new Error(await describeResponse(response));
      }
      const { id } = (await response.json()) as { id: string };
      const saved: SavedSubscription = { id, user: me.id, endpoint: subscription.endpoint };
      this.#storage.setItem(PUSH_SUBSCRIPTION_KEY, JSON.stringify(saved));
      this.#set({ subscribed: true, message: 'Notifications are on for this browser.' });
    } catch (err) {
      this.#set({ message: `Notifications could not be turned on: ${describe(err)}` });
    } finally {
      this.#set({ busy: false });
    }
  }

  /** Turns notifications off for this browser: removes the subscription from the API and the PushManager. */
  async disable(): Promise<void> {
    if (this.#state.busy) return;
    this.#set({ busy: true, message: null });
    try {
      const saved = this.#saved();
      if (saved !== null) {
        const response = await this.#chat.apiFetch(
          'DELETE',
          `/v1/push/subscriptions/${encodeURIComponent(saved.id)}`,
        );
        // 404: the server had already dropped it, which is the state asked for.
        if (!response.ok && response.status !== 404) throw new Error(await describeResponse(response));
      }
      this.#storage.removeItem(PUSH_SUBSCRIPTION_KEY);
      const registration = await navigator.serviceWorker.getRegistration(SERVICE_WORKER_URL);
      await (await registration?.pushManager.getSubscription())?.unsubscribe();
      this.#set({ subscribed: false, message: 'Notifications are off for this browser.' });
    } catch (err) {
      this.#set({ message: `Notifications could not be turned off: ${describe(err)}` });
    } finally {
      this.#set({ busy: false });
    }
  }

  /** Saves the previews and global mute preferences. Fields left out keep their value. */
  async setPreferences(change: Partial<PushPreferences>): Promise<void> {
    const current = this.#state.preferences;
    if (current === null) return;
    const next = { ...current, ...change };
    this.#set({ preferences: next, message: null });
    try {
      const response = await this.#chat.apiFetch('PUT', '/v1/push/settings', next);
      if (!response.ok) throw new Error(await describeResponse(response));
    } catch (err) {
      this.#set({ preferences: current, message: `The setting could not be saved: ${describe(err)}` });
    }
  }

  /** Mutes or unmutes the notifications of one conversation. */
  async setConversationMuted(conv: string, muted: boolean): Promise<void> {
    const before = this.#state.mutedConversations;
    const next = new Set(before);
    if (muted) next.add(conv);
    else next.delete(conv);
    this.#set({ mutedConversations: next, message: null });
    try {
      const response = await this.#chat.apiFetch(
        muted ? 'PUT' : 'DELETE',
        `/v1/push/mutes/${encodeURIComponent(conv)}`,
      );
      if (!response.ok) throw new Error(await describeResponse(response));
    } catch (err) {
      this.#set({
        mutedConversations: before,
        message: `The conversation could not be muted: ${describe(err)}`,
      });
    }
  }

  /**
   * Removes this browser's subscription before the user logs out, so the next user of the
   * browser does not get the previous user's notifications. Failures are left in `message`.
   */
  async beforeLogout(): Promise<void> {
    if (this.#state.subscribed) await this.disable();
  }

  /** Forgets the state of the previous user, after a sign-out. */
  reset(): void {
    this.#vapidKey = null;
    this.#state = {
      ...this.#state,
      phase: 'idle',
      canSubscribe: false,
      subscribed: false,
      preferences: null,
      mutedConversations: new Set(),
      message: null,
    };
    this.#emit();
  }

  async #loadPreferences(): Promise<void> {
    const settings = await this.#json<PushPreferences & { mutedConversations?: string[] }>(
      'GET',
      '/v1/push/settings',
    );
    this.#set({
      preferences: { muted: settings.muted, previews: settings.previews },
      mutedConversations: new Set(settings.mutedConversations ?? []),
    });
  }

  /** True when the saved subscription belongs to this user and the PushManager still has it. */
  async #hasLiveSubscription(): Promise<boolean> {
    const saved = this.#saved();
    if (saved === null) return false;
    const registration = await navigator.serviceWorker.getRegistration(SERVICE_WORKER_URL);
    const live = await registration?.pushManager.getSubscription();
    return live?.endpoint === saved.endpoint;
  }

  #saved(): SavedSubscription | null {
    const me = this.#chat.getSnapshot().me;
    const text = this.#storage.getItem(PUSH_SUBSCRIPTION_KEY);
    if (text === null || me === null) return null;
    try {
      const saved = JSON.parse(text) as Partial<SavedSubscription>;
      if (typeof saved.id !== 'string' || typeof saved.endpoint !== 'string' || saved.user !== me.id)
        return null;
      return saved as SavedSubscription;
    } catch {
      return null;
    }
  }

  async #json<T>(method: string, path: string): Promise<T> {
    const response = await this.#chat.apiFetch(method, path);
    if (!response.ok) throw new Error(await describeResponse(response));
    return (await response.json()) as T;
  }

  #set(change: Partial<PushState>): void {
    this.#state = { ...this.#state, ...change };
    this.#emit();
  }

  #emit(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

function browserSupportsPush(): boolean {
  return typeof Notification !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window;
}

function currentPermission(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Decodes the VAPID public key, which the API sends as base64url without padding. */
export function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text
    .replaceAll('-', '+')
    .replaceAll('_', '/')
    .padEnd(Math.ceil(text.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Resolves like `promise`, or rejects with `message` after `ms` milliseconds. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function describeResponse(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string }; message?: string };
    return body.error?.message ?? body.message ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
