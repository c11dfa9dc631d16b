/**
 * Accounts and routes for k6 virtual users: log in (registering on first use when
 * SWB_REGISTER=1), ask the router for the chat node, and build the WebSocket URL.
 */
import http from 'k6/http';
import { readFlag, readInteger, readString } from './env.ts';

/** A logged-in load-test user and the chat node that owns it. */
export interface LoadUser {
  username: string;
  id: string;
  accessToken: string;
  node: string;
  /** WebSocket URL of the owning node, with the access token in the query. */
  wsUrl: string;
}

interface AuthResponse {
  user: { id: string; username: string };
  accessToken: string;
}

interface RouteResponse {
  node: string;
  url: string;
  ringVersion: string;
}

const PREFIX = readString('SWB_USER_PREFIX', 'k6u');
const PASSWORD = readString('SWB_PASSWORD', 'k6-load-password');
const REGISTER = readFlag('SWB_REGISTER');
/**
 * First user index of this k6 instance. Fleet-wide runs start one k6 per load machine, each
 * with its own offset, so their users do not overlap.
 */
const OFFSET = readInteger('SWB_USER_OFFSET', 0, 0, 1e9);
/** Only connect users that this chat node owns (per-node runs); empty uses the whole ring. */
const ONLY_NODE = readString('SWB_NODE', '');
/** Candidates a per-node run tries per virtual user before it gives up: several times the node count. */
const NODE_CANDIDATES = readInteger('SWB_NODE_CANDIDATES', 64, 1, 10_000);

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Returns the user name of load-test user `index`, counted from SWB_USER_OFFSET. */
export function buildUsername(index: number): string {
  return `${PREFIX}${OFFSET + index}`;
}

/** Logs `username` in, registering it first when SWB_REGISTER=1 and it does not exist. */
export function logIn(apiUrl: string, username: string): AuthResponse {
  const body = JSON.stringify({ username, password: PASSWORD });
  const login = http.post(`${apiUrl}/v1/auth/login`, body, {
    headers: JSON_HEADERS,
    tags: { name: 'login' },
    responseCallback: http.expectedStatuses(200, 401),
  });
  if (login.status === 200) return login.json() as unknown as AuthResponse;
  if (login.status === 401 && REGISTER) {
    const created = http.post(`${apiUrl}/v1/auth/register`, body, {
      headers: JSON_HEADERS,
      tags: { name: 'register' },
    });
    if (created.status === 201) return created.json() as unknown as AuthResponse;
    throw new Error(`register of ${username} failed: HTTP ${created.status} ${String(created.body)}`);
  }
  throw new Error(
    `login of ${username} failed: HTTP ${login.status} ${String(login.body)}` +
      (login.status === 401 ? '; set SWB_REGISTER=1 to create the load-test users' : ''),
  );
}

/** Asks the router which chat node owns the caller. */
export function fetchRoute(apiUrl: string, accessToken: string): RouteResponse {
  const response = http.get(`${apiUrl}/v1/route`, {
    headers: { authorization: `Bearer ${accessToken}` },
    tags: { name: 'route' },
  });
  if (response.status !== 200) {
    throw new Error(`GET /v1/route failed: HTTP ${response.status} ${String(response.body)}`);
  }
  return response.json() as unknown as RouteResponse;
}

/** Builds the WebSocket URL of a node for an access token. */
export function buildWsUrl(nodeUrl: string, accessToken: string): string {
  return `${nodeUrl}?access_token=${encodeURIComponent(accessToken)}`;
}

/**
 * Logs in load-test user `index` and routes it. With SWB_NODE set, tries user names
 * `<name>n0`, `<name>n1`, ... until the router places one on that node, so a per-node run
 * loads one node through the normal path.
 */
export function openSession(apiUrl: string, index: number): LoadUser {
  const base = buildUsername(index);
  const candidates = ONLY_NODE === '' ? 1 : NODE_CANDIDATES;
  for (let attempt = 0; attempt < candidates; attempt++) {
    const username = ONLY_NODE === '' ? base : `${base}n${attempt}`;
    const auth = logIn(apiUrl, username);
    const route = fetchRoute(apiUrl, auth.accessToken);
    if (ONLY_NODE !== '' && route.node !== ONLY_NODE) continue;
    return {
      username,
      id: auth.user.id,
      accessToken: auth.accessToken,
      node: route.node,
      wsUrl: buildWsUrl(route.url, auth.accessToken),
    };
  }
  throw new Error(
    `no user among ${candidates} candidates for ${base} is owned by node ${ONLY_NODE}; ` +
      'check SWB_NODE against GET /v1/ring or raise SWB_NODE_CANDIDATES',
  );
}
