/**
 * A Switchboard client that survives the loss of its node the way the SDK does. It requests its
 * node from the router and connects. After a lost connection it reconnects with jittered
 * backoff and pages `sync` from the last position it had before the loss. Sends that were not
 * acknowledged are sent again with the same ids once the new connection is welcomed.
 *
 * Kept small so that one worker keeps thousands of them.
 */
import { request } from 'node:http';
import { openRawWebSocket, type RawWebSocket } from './raw-websocket.ts';

export interface ResyncClientOptions {
  userId: string;
  token: string;
  /** Origin of the router, such as http://127.0.0.1:8080. */
  routerUrl: string;
  localAddress?: string;
  /** Called for every message from another user, live or from a sync page. */
  onMessage?: (from: string, id: string, conv: string, seq: number) => void;
}

/** Milliseconds of the first reconnect delay; each failed attempt doubles it, up to the cap. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 4000;

/** GETs a JSON document over HTTP from a given source address. */
function getJson(url: string, token: string, localAddress: string | undefined): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        headers: { authorization: `Bearer ${token}` },
        timeout: 10_000,
        ...(localAddress ? { localAddress } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(body));
          else reject(new Error(`GET ${url} returned ${res.statusCode}: ${body.slice(0, 200)}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export class ResyncClient {
  readonly userId: string;
  /** Time the last connection was lost, or 0 while none was. */
  lostAt = 0;
  /** Time the last resync after a loss finished, or 0 while none did. */
  resyncedAt = 0;
  /** Connections lost since the client started. */
  losses = 0;
  /** Acknowledged client message ids. */
  readonly acked = new Set<string>();
  readonly #options: ResyncClientOptions;
  #ws: RawWebSocket | null = null;
  #position = -1;
  #livePosition = -1;
  #syncing = false;
  #stopped = false;
  #attempt = 0;
  /** Sends not yet acknowledged, in send order, resent after a reconnect. */
  readonly #unacked = new Map<string, string>();
  #welcomed: (() => void) | null = null;
  /** Rejects the pending connect when its socket closes before the welcome. */
  #failConnect: ((err: Error) => void) | null = null;

  constructor(options: ResyncClientOptions) {
    this.userId = options.userId;
    this.#options = options;
  }

  get connected(): boolean {
    return this.#ws !== null && this.#ws.open && !this.#syncing;
  }

  /** Connects for the first time; rejects when the first attempt fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Sends a message to `to`; it is resent with the same id after a reconnect until acknowledged. */
  send(to: string, id: string, body: string): void {
    const frame = JSON.stringify({ type: 'send', id, to, body });
    this.#unacked.set(id, frame);
    if (this.#ws?.open && !this.#syncing) this.#ws.sendText(frame);
  }

  /** Asks for everything after the current position and resolves when the last page arrived. */
  syncNow(): Promise<void> {
    return new Promise((resolve) => {
      this.#afterSync = resolve;
      this.#beginSync();
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.close();
  }

  #afterSync: (() => void) | null = null;

  async #connect(): Promise<void> {
    const route = (await getJson(
      `${this.#options.routerUrl}/v1/route`,
      this.#options.token,
      this.#options.localAddress,
    )) as { url: string };
    const ws = await openRawWebSocket({
      url: `${route.url}?access_token=${encodeURIComponent(this.#options.token)}`,
      ...(this.#options.localAddress ? { localAddress: this.#options.localAddress } : {}),
    });
    this.#ws = ws;
    const welcomed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.destroy();
        reject(new Error('no welcome within 15 s'));
      }, 15_000);
      this.#welcomed = () => {
        clearTimeout(timer);
        this.#failConnect = null;
        resolve();
      };
      this.#failConnect = (err) => {
        clearTimeout(timer);
        this.#welcomed = null;
        reject(err);
      };
    });
    ws.onText = (text) => this.#receive(text);
    ws.onClose = (code) => this.#lost(ws, code);
    await welcomed;
  }

  #receive(text: string): void {
    const frame = JSON.parse(text) as {
      type: string;
      head?: number;
      more?: boolean;
      pos?: number;
      id?: string;
      from?: string;
      conv?: string;
      seq?: number;
      entries?: Array<{
        type: string;
        from?: string;
        id?: string;
        conv?: string;
        seq?: number;
        pos?: number;
      }>;
    };
    switch (frame.type) {
      case 'welcome':
        this.#onWelcome(frame.head ?? 0);
        return;
      case 'ack':
        this.acked.add(frame.id!);
        this.#unacked.delete(frame.id!);
        return;
      case 'message':
        if (frame.pos !== undefined) this.#livePosition = Math.max(this.#livePosition, frame.pos);
        if (!this.#syncing && frame.pos !== undefined) this.#position = Math.max(this.#position, frame.pos);
        if (frame.from !== this.userId)
          this.#options.onMessage?.(frame.from!, frame.id!, frame.conv!, frame.seq!);
        return;
      case 'sync':
        for (const entry of frame.entries ?? []) {
          if (entry.type === 'message' && entry.from !== this.userId) {
            this.#options.onMessage?.(entry.from!, entry.id!, entry.conv!, entry.seq!);
          }
        }
        this.#position = Math.max(this.#position, frame.head ?? 0);
        if (frame.more) this.#ws?.sendText(JSON.stringify({ type: 'sync', after: this.#position }));
        else this.#finishSync();
        return;
      case 'error':
        // A sync refused while the persister catches up is retried; errors on sends are
        // retried by the resend after the next reconnect.
        if (this.#syncing) setTimeout(() => this.#beginSync(), 200).unref();
        return;
      default:
        return;
    }
  }

  #onWelcome(head: number): void {
    this.#attempt = 0;
    const welcomed = this.#welcomed;
    this.#welcomed = null;
    if (this.#position < 0) {
      this.#position = head;
      welcomed?.();
      return;
    }
    welcomed?.();
    this.#beginSync();
  }

  #beginSync(): void {
    this.#syncing = true;
    this.#ws?.sendText(JSON.stringify({ type: 'sync', after: this.#position }));
  }

  #finishSync(): void {
    this.#syncing = false;
    this.#position = Math.max(this.#position, this.#livePosition);
    if (this.lostAt > 0 && this.resyncedAt < this.lostAt) this.resyncedAt = Date.now();
    for (const frame of this.#unacked.values()) this.#ws?.sendText(frame);
    const afterSync = this.#afterSync;
    this.#afterSync = null;
    afterSync?.();
  }

  #lost(ws: RawWebSocket, code: number): void {
    if (this.#ws !== ws || this.#stopped) return;
    this.#ws = null;
    const failConnect = this.#failConnect;
    if (failConnect !== null) {
      // Closed before the welcome: the pending connect fails and its caller retries.
      this.#failConnect = null;
      failConnect(new Error(`closed with ${code} before welcome`));
      return;
    }
    this.#syncing = false;
    if (this.lostAt === 0 || this.resyncedAt >= this.lostAt) {
      this.lostAt = Date.now();
      this.losses++;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.#attempt);
    this.#attempt++;
    setTimeout(() => {
      if (this.#stopped) return;
      this.#connect().catch(() => this.#scheduleReconnect());
    }, Math.random() * ceiling);
  }
}
