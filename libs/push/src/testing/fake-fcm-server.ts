import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyJwt } from './jwt-check.ts';
import {
  ResponseScript,
  sendScripted,
  type RejectedRequest,
  type ScriptedResponse,
} from './scripted-responses.ts';

/** A service-account key as the Google Cloud console downloads it, with fields the fake fills in. */
export interface FakeServiceAccount {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  token_uri: string;
}

/** A message the fake accepted. */
export interface ReceivedFcmMessage {
  /** The `message` object of the request body. */
  message: Record<string, unknown>;
  accessToken: string;
}

/** An access token the fake issued, with the claims of the assertion it was issued for. */
export interface IssuedAccessToken {
  value: string;
  /** Expiry in milliseconds since the epoch, by the fake's clock. */
  expiresAt: number;
  assertionClaims: Record<string, unknown>;
}

export interface FakeFcmServerOptions {
  projectId?: string;
  /** Lifetime of issued access tokens in seconds (default 3600). */
  expiresIn?: number;
  /** Clock in milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

type GoneMode = 'UNREGISTERED' | 'INVALID_ARGUMENT';

const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google accepts assertions valid for at most one hour. */
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
/** Clock skew tolerated on the assertion's iat. */
const CLOCK_SKEW_SECONDS = 60;
const MESSAGE_FIELDS = new Set([
  'name',
  'token',
  'topic',
  'condition',
  'data',
  'notification',
  'android',
  'webpush',
  'apns',
  'fcm_options',
]);
const RESERVED_DATA_KEY = /^(from|notification|message_type|google.*|gcm.*)$/i;

/**
 * An FCM HTTP v1 server on 127.0.0.1 with its own OAuth 2.0 token endpoint. It generates an RSA
 * service-account key, verifies each RS256 assertion against it, issues access tokens with
 * expires_in, and checks the bearer token and message shape of each messages:send request.
 */
export class FakeFcmServer {
  readonly origin: string;
  readonly projectId: string;
  readonly serviceAccount: FakeServiceAccount;
  readonly received: ReceivedFcmMessage[] = [];
  readonly rejected: RejectedRequest[] = [];
  readonly issuedTokens: IssuedAccessToken[] = [];
  readonly #server: Server;
  readonly #publicKey: KeyObject;
  readonly #now: () => number;
  #expiresIn: number;
  readonly #sendScript = new ResponseScript();
  readonly #tokenScript = new ResponseScript();
  readonly #goneTokens = new Map<string, GoneMode>();
  readonly #validTokens = new Map<string, number>();
  #sendRequests = 0;
  #tokenRequests = 0;

  private constructor(server: Server, options: FakeFcmServerOptions) {
    this.#server = server;
    this.#now = options.now ?? Date.now;
    this.#expiresIn = options.expiresIn ?? 3600;
    this.projectId = options.projectId ?? 'switchboard-test';
    const { port } = server.address() as AddressInfo;
    this.origin = `http://127.0.0.1:${port}`;

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#publicKey = publicKey;
    this.serviceAccount = {
      type: 'service_account',
      project_id: this.projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: `push@${this.projectId}.iam.gserviceaccount.com`,
      token_uri: `${this.origin}/token`,
    };
  }

  /** Starts the server on 127.0.0.1 on a free port. */
  static async start(options: FakeFcmServerOptions = {}): Promise<FakeFcmServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeFcmServer(server, options);
    server.on('request', (request, response) => void fake.#handle(request, response));
    return fake;
  }

  /** Number of messages:send requests, whatever their outcome. */
  get sendRequests(): number {
    return this.#sendRequests;
  }

  /** Number of token endpoint requests, whatever their outcome. */
  get tokenRequests(): number {
    return this.#tokenRequests;
  }

  /** Sets the lifetime of access tokens issued from now on, in seconds. */
  setExpiresIn(seconds: number): void {
    this.#expiresIn = seconds;
  }

  /** Responds to the next `times` valid messages:send requests with `response`. */
  respondNext(response: ScriptedResponse, times = 1): void {
    this.#sendScript.add(response, times);
  }

  /** Responds to the next `times` valid token requests with `response`. */
  respondNextToken(response: ScriptedResponse, times = 1): void {
    this.#tokenScript.add(response, times);
  }

  /**
   * Makes sends to `token` fail as FCM does for a dead registration: 404 with errorCode
   * UNREGISTERED, or 400 INVALID_ARGUMENT naming message.token.
   */
  markGone(token: string, mode: GoneMode = 'UNREGISTERED'): void {
    this.#goneTokens.set(token, mode);
  }

  /** Invalidates every access token issued so far, so the next send gets 401. */
  revokeAccessTokens(): void {
    this.#validTokens.clear();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = request.url ?? '';

    if (request.method === 'POST' && path === '/token') return this.#handleToken(request, response, body);
    if (request.method === 'POST' && /^\/v1\/projects\/[^/]+\/messages:send$/.test(path)) {
      return this.#handleSend(request, response, body);
    }
    this.#reject(response, path, 404, 'NOT_FOUND', `no route for ${request.method} ${path}`);
  }

  async #handleToken(request: IncomingMessage, response: ServerResponse, body: string): Promise<void> {
    this.#tokenRequests += 1;
    const rejectGrant = (error: string, description: string): void => {
      this.rejected.push({ path: '/token', status: 400, reason: `${error}: ${description}` });
      response
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error, error_description: description }));
    };

    if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return rejectGrant('invalid_request', 'content-type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== JWT_BEARER_GRANT) {
      return rejectGrant('unsupported_grant_type', `grant_type must be ${JWT_BEARER_GRANT}`);
    }
    const verified = verifyJwt(form.get('assertion') ?? '', this.#publicKey, 'RS256');
    if (typeof verified === 'string') return rejectGrant('invalid_grant', verified);

    const { claims } = verified;
    const nowSeconds = this.#now() / 1000;
    const problem =
      claims.iss !== this.serviceAccount.client_email
        ? `iss must be ${this.serviceAccount.client_email}`
        : typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(FCM_SCOPE)
          ? `scope must include ${FCM_SCOPE}`
          : claims.aud !== this.serviceAccount.token_uri
            ? `aud must be ${this.serviceAccount.token_uri}`
            : typeof claims.iat !== 'number' || claims.iat > nowSeconds + CLOCK_SKEW_SECONDS
              ? 'iat is missing or in the future'
              : typeof claims.exp !== 'number' || claims.exp <= nowSeconds
                ? 'exp is missing or in the past'
                : claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECONDS
                  ? 'exp is more than one hour after iat'
                  : undefined;
    if (problem !== undefined) return rejectGrant('invalid_grant', problem);

    const scripted = this.#tokenScript.take();
    if (scripted !== undefined) return sendScripted(response, scripted);

    const value = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.#now() + this.#expiresIn * 1000;
    this.#validTokens.set(value, expiresAt);
    this.issuedTokens.push({ value, expiresAt, assertionClaims: claims });
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ access_token: value, expires_in: this.#expiresIn, token_type: 'Bearer' }));
  }

  async #handleSend(request: IncomingMessage, response: ServerResponse, body: string): Promise<void> {
    this.#sendRequests += 1;
    const path = request.url ?? '';
    const authorization = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
    const accessToken = authorization?.[1] ?? '';
    const expiresAt = this.#validTokens.get(accessToken);
    if (expiresAt === undefined || expiresAt <= this.#now()) {
      return this.#reject(
        response,
        path,
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials.',
      );
    }
    if (path !== `/v1/projects/${this.projectId}/messages:send`) {
      return this.#reject(
        response,
        path,
        403,
        'PERMISSION_DENIED',
        'the service account has no access to this project',
      );
    }

    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.#reject(response, path, 400, 'INVALID_ARGUMENT', 'body is not JSON');
    }
    const message = (parsed as { message?: unknown } | null)?.message;
    const problem = checkMessage(message);
    if (problem !== undefined) return this.#reject(response, path, 400, 'INVALID_ARGUMENT', problem);
    const fields = message as Record<string, unknown>;

    const gone = this.#goneTokens.get(fields.token as string);
    if (gone === 'UNREGISTERED') {
      return this.#reject(
        response,
        path,
        404,
        'NOT_FOUND',
        'Requested entity was not found.',
        'UNREGISTERED',
      );
    }
    if (gone === 'INVALID_ARGUMENT') {
      return this.#reject(
        response,
        path,
        400,
        'INVALID_ARGUMENT',
        'The registration token is not a valid FCM registration token',
        'INVALID_ARGUMENT',
        'message.token',
      );
    }

    const scripted = this.#sendScript.take();
    if (scripted !== undefined) return sendScripted(response, scripted);

    this.received.push({ message: fields, accessToken });
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ name: `projects/${this.projectId}/messages/${randomUUID()}` }));
  }

  /** Responds with a google.rpc.Status error body as the FCM v1 API does. */
  #reject(
    response: ServerResponse,
    path: string,
    code: number,
    status: string,
    message: string,
    errorCode?: string,
    violatedField?: string,
  ): void {
    this.rejected.push({ path, status: code, reason: `${errorCode ?? status}: ${message}` });
    const details: Array<Record<string, unknown>> = [];
    if (errorCode !== undefined) {
      details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode });
    }
    if (violatedField !== undefined) {
      details.push({
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: violatedField, description: message }],
      });
    }
    response
      .writeHead(code, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code, message, status, details } }));
  }
}

/** Checks a v1 `message` the way the API's schema does. Returns a problem, or undefined. */
function checkMessage(message: unknown): string | undefined {
  if (!isObject(message)) return 'message must be an object';
  const unknownField = Object.keys(message).find((key) => !MESSAGE_FIELDS.has(key));
  if (unknownField !== undefined) return `Invalid JSON payload received. Unknown name "${unknownField}"`;
  if (typeof message.token !== 'string' || message.token === '')
    return 'message.token must be a non-empty string';

  const notification = message.notification;
  if (notification !== undefined) {
    if (!isObject(notification)) return 'message.notification must be an object';
    if (typeof notification.title !== 'string') return 'message.notification.title must be a string';
    if (typeof notification.body !== 'string') return 'message.notification.body must be a string';
  }

  const data = message.data;
  if (data !== undefined) {
    if (!isObject(data)) return 'message.data must be an object';
    for (const [key, value] of Object.entries(data)) {
      if (typeof value !== 'string') return `message.data.${key} must be a string`;
      if (RESERVED_DATA_KEY.test(key)) return `message.data.${key} is a reserved key`;
    }
  }

  const android = message.android;
  if (android !== undefined) {
    if (!isObject(android)) return 'message.android must be an object';
    if (android.collapse_key !== undefined && typeof android.collapse_key !== 'string') {
      return 'message.android.collapse_key must be a string';
    }
    if (
      android.priority !== undefined &&
      !['normal', 'high'].includes(String(android.priority).toLowerCase())
    ) {
      return 'message.android.priority must be NORMAL or HIGH';
    }
    if (android.ttl !== undefined && !/^\d+(\.\d+)?s$/.test(String(android.ttl))) {
      return 'message.android.ttl must be a duration such as "3600s"';
    }
  }

  const apns = message.apns;
  if (apns !== undefined) {
    if (!isObject(apns)) return 'message.apns must be an object';
    if (apns.headers !== undefined) {
      if (!isObject(apns.headers)) return 'message.apns.headers must be an object';
      for (const [name, value] of Object.entries(apns.headers)) {
        if (typeof value !== 'string') return `message.apns.headers.${name} must be a string`;
      }
    }
    if (apns.payload !== undefined && !(isObject(apns.payload) && isObject(apns.payload.aps))) {
      return 'message.apns.payload must be an object with an aps object';
    }
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
