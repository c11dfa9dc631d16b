/** A response of `requestWithTimeout`, with the body already read. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** A request failed before a response arrived, or the response was not read in time. */
export class HttpRequestError extends Error {
  readonly timedOut: boolean;

  constructor(message: string, timedOut: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpRequestError';
    this.timedOut = timedOut;
  }
}

/**
 * Sends one HTTP request with fetch and reads the whole body, failing after `timeoutMs`.
 * Redirects are not followed, so a push service cannot send the server to another address.
 */
export async function requestWithTimeout(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string | Uint8Array },
  timeoutMs: number,
): Promise<HttpResponse> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  // A copy backed by a plain ArrayBuffer, which is what the DOM BodyInit type accepts.
  const body =
    init.body === undefined || typeof init.body === 'string' ? init.body : new Uint8Array(init.body);
  try {
    const response = await fetch(url, {
      method: init.method,
      headers: init.headers,
      body,
      redirect: 'manual',
      signal: controller.signal,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    if (controller.signal.aborted) {
      throw new HttpRequestError(`request timed out after ${timeoutMs} ms`, true, { cause: error });
    }
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new HttpRequestError(`request failed: ${detail}`, false, { cause });
  } finally {
    clearTimeout(timer);
  }
}
