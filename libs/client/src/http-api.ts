import { ErrorCode } from '@switchboard/protocol';
import type {
  AuthResponse,
  ConversationSummary,
  CreateGroupOptions,
  GroupInfo,
  HistoryOptions,
  HistoryPage,
  RouteResponse,
  Session,
  User,
} from './api-types.ts';
import { ApiError, NetworkError, NoSessionError } from './errors.ts';

export interface HttpApiOptions {
  /** Origin of the API and router, for example `http://127.0.0.1:8080`; a path prefix is kept. */
  apiUrl: string;
  /** Origin of the router when it is not served with the API. */
  routerUrl?: string;
  fetch: typeof globalThis.fetch;
  /** Called whenever the session changes: login, register, refresh or useSession. */
  onSession: (session: Session) => void;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * Calls the HTTP API and router with the session's access token.
 *
 * A 401 response to an authenticated request refreshes the tokens once and repeats the
 * request. Refreshes are single-flight because a refresh token is valid for one use only.
 */
export class HttpApi {
  readonly #baseUrl: string;
  readonly #routerUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #onSession: (session: Session) => void;
  #session: Session | null = null;
  #refreshing: Promise<Session> | null = null;

  constructor(options: HttpApiOptions) {
    this.#baseUrl = options.apiUrl.replace(/\/+$/, '');
    this.#routerUrl = (options.routerUrl ?? options.apiUrl).replace(/\/+$/, '');
    this.#fetch = options.fetch;
    this.#onSession = options.onSession;
  }

  get session(): Session | null {
    return this.#session;
  }

  /** Replaces the session, for example with tokens saved by an earlier run. */
  setSession(session: Session): void {
    this.#session = { ...session };
    this.#onSession(this.#session);
  }

  async register(username: string, password: string, displayName?: string): Promise<AuthResponse> {
    const body = displayName === undefined ? { username, password } : { username, password, displayName };
    const auth = await this.#request<AuthResponse>('POST', '/v1/auth/register', {
      body,
      authenticated: false,
    });
    this.setSession(auth);
    return auth;
  }

  async login(username: string, password: string): Promise<AuthResponse> {
    const auth = await this.#request<AuthResponse>('POST', '/v1/auth/login', {
      body: { username, password },
      authenticated: false,
    });
    this.setSession(auth);
    return auth;
  }

  /** Exchanges the refresh token for new tokens. Concurrent callers share one request. */
  refresh(): Promise<Session> {
    if (this.#refreshing !== null) return this.#refreshing;
    this.#refreshing = this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  route(): Promise<RouteResponse> {
    return this.#request<RouteResponse>('GET', `${this.#routerUrl}/v1/route`);
  }

  async searchUsers(prefix: string): Promise<User[]> {
    const query = new URLSearchParams({ prefix });
    const response = await this.#request<{ users: User[] }>('GET', `/v1/users?${query}`);
    return response.users;
  }

  async conversations(): Promise<ConversationSummary[]> {
    const response = await this.#request<{ conversations: ConversationSummary[] }>(
      'GET',
      '/v1/conversations',
    );
    return response.conversations;
  }

  /** Creates (or finds) the one-to-one conversation with `userId` and returns its id. */
  async openDirect(userId: string): Promise<string> {
    const response = await this.#request<{ id: string }>('POST', '/v1/conversations/direct', {
      body: { userId },
    });
    return response.id;
  }

  history(conv: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.direction !== undefined) query.set('direction', options.direction);
    const text = query.toString();
    const suffix = text === '' ? '' : `?${text}`;
    return this.#request<HistoryPage>(
      'GET',
      `/v1/conversations/${encodeURIComponent(conv)}/messages${suffix}`,
    );
  }

  createGroup(name: string, options: CreateGroupOptions = {}): Promise<GroupInfo> {
    const body: Record<string, unknown> = { name };
    if (options.kind !== undefined) body.kind = options.kind;
    if (options.members !== undefined) body.members = options.members;
    return this.#request<GroupInfo>('POST', '/v1/groups', { body });
  }

  getGroup(groupId: string): Promise<GroupInfo> {
    return this.#request<GroupInfo>('GET', `/v1/groups/${encodeURIComponent(groupId)}`);
  }

  renameGroup(groupId: string, name: string): Promise<GroupInfo> {
    return this.#request<GroupInfo>('PATCH', `/v1/groups/${encodeURIComponent(groupId)}`, { body: { name } });
  }

  addMembers(groupId: string, userIds: string[]): Promise<GroupInfo> {
    return this.#request<GroupInfo>('POST', `/v1/groups/${encodeURIComponent(groupId)}/members`, {
      body: { userIds },
    });
  }

  removeMember(groupId: string, userId: string): Promise<GroupInfo> {
    return this.#request<GroupInfo>(
      'DELETE',
      `/v1/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`,
    );
  }

  promoteMember(groupId: string, userId: string): Promise<GroupInfo> {
    return this.#request<GroupInfo>(
      'PATCH',
      `/v1/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`,
      { body: { role: 'admin' } },
    );
  }

  async leaveGroup(groupId: string): Promise<void> {
    await this.#request<void>('POST', `/v1/groups/${encodeURIComponent(groupId)}/leave`);
  }

  async block(userId: string): Promise<void> {
    await this.#request<void>('POST', '/v1/blocks', { body: { userId } });
  }

  async unblock(userId: string): Promise<void> {
    await this.#request<void>('DELETE', `/v1/blocks/${encodeURIComponent(userId)}`);
  }

  async blockedUsers(): Promise<string[]> {
    return (await this.#request<{ users: string[] }>('GET', '/v1/blocks')).users;
  }

  async #refreshOnce(): Promise<Session> {
    const current = this.#session;
    if (current === null) throw new NoSessionError();
    const response = await this.#request<Partial<AuthResponse>>('POST', '/v1/auth/refresh', {
      body: { refreshToken: current.refreshToken },
      authenticated: false,
    });
    if (typeof response.accessToken !== 'string' || typeof response.refreshToken !== 'string') {
      throw new ApiError(
        200,
        ErrorCode.Internal,
        'refresh response has no accessToken or refreshToken',
        false,
      );
    }
    const user = response.user ?? current.user;
    this.setSession({
      ...(user === undefined ? {} : { user }),
      accessToken: response.accessToken,
      refreshToken: response.refreshToken,
      ...(response.expiresIn === undefined ? {} : { expiresIn: response.expiresIn }),
    });
    return this.#session!;
  }

  async #request<T>(
    method: Method,
    path: string,
    options: { body?: unknown; authenticated?: boolean } = {},
  ): Promise<T> {
    const authenticated = options.authenticated ?? true;
    if (!authenticated) return this.#send<T>(method, path, options.body, null);

    const session = this.#session;
    if (session === null) throw new NoSessionError();
    try {
      return await this.#send<T>(method, path, options.body, session.accessToken);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
    }
    // Another request may have refreshed while this one was in flight.
    if (this.#session?.accessToken === session.accessToken) await this.refresh();
    return this.#send<T>(method, path, options.body, this.#session!.accessToken);
  }

  async #send<T>(method: Method, path: string, body: unknown, token: string | null): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== null) headers.authorization = `Bearer ${token}`;

    let response: Response;
    try {
      // Paths are relative to the API, except the router's, which arrives as an absolute URL.
      const url = path.startsWith('/') ? `${this.#baseUrl}${path}` : path;
      response = await this.#fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new NetworkError(`${method} ${path} failed: ${(err as Error).message}`, { cause: err });
    }

    const text = await response.text();
    if (response.ok) return (text === '' ? undefined : JSON.parse(text)) as T;
    throw buildApiError(method, path, response.status, text);
  }
}

function buildApiError(method: Method, path: string, status: number, text: string): ApiError {
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  if (typeof error === 'object' && error !== null) {
    const { code, message, retryable } = error as Record<string, unknown>;
    if (typeof code === 'string') {
      return new ApiError(
        status,
        code,
        typeof message === 'string' ? message : `${method} ${path} failed with HTTP ${status}`,
        typeof retryable === 'boolean' ? retryable : status >= 500,
      );
    }
  }
  // A proxy or a crashed server may respond without the Switchboard error body.
  return new ApiError(
    status,
    'SWB_ERR_CLIENT_HTTP_STATUS',
    `${method} ${path} failed with HTTP ${status}`,
    status >= 500 || status === 429,
  );
}
