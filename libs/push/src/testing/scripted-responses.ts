import type { ServerResponse } from 'node:http';

/** A response a fake returns in place of its normal one, after the request passed its checks. */
export interface ScriptedResponse {
  status: number;
  /** Response body; an object is sent as JSON. */
  body?: string | Record<string, unknown>;
  /** Retry-After header value: delay-seconds or an HTTP date. */
  retryAfter?: string | number;
  /** Waits this long before responding, to make a client time out. */
  delayMs?: number;
}

/** A queue of scripted responses, each used for a given number of requests. */
export class ResponseScript<T = ScriptedResponse> {
  readonly #queue: Array<{ response: T; remaining: number }> = [];

  /** Queues `response` for the next `times` requests that reach this point. */
  add(response: T, times = 1): void {
    if (!Number.isInteger(times) || times < 1)
      throw new RangeError(`times must be a positive integer, got ${times}`);
    this.#queue.push({ response, remaining: times });
  }

  /** Removes and returns the response for the current request, or undefined when none is queued. */
  take(): T | undefined {
    const head = this.#queue[0];
    if (head === undefined) return undefined;
    head.remaining -= 1;
    if (head.remaining === 0) this.#queue.shift();
    return head.response;
  }

  clear(): void {
    this.#queue.length = 0;
  }
}

/** A request a fake rejected, and why. */
export interface RejectedRequest {
  path: string;
  status: number;
  reason: string;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Writes a scripted response, after its delay. */
export async function sendScripted(response: ServerResponse, scripted: ScriptedResponse): Promise<void> {
  if (scripted.delayMs !== undefined) await delay(scripted.delayMs);
  if (response.destroyed) return;
  const headers: Record<string, string> = {};
  if (scripted.retryAfter !== undefined) headers['retry-after'] = String(scripted.retryAfter);
  let text = '';
  if (typeof scripted.body === 'string') text = scripted.body;
  else if (scripted.body !== undefined) {
    text = JSON.stringify(scripted.body);
    headers['content-type'] = 'application/json';
  }
  response.writeHead(scripted.status, headers).end(text);
}
