/**
 * Generates a client message id: 32 hex digits from the platform's CSPRNG.
 *
 * `crypto.getRandomValues` exists in Node 20 and in every browser, secure context or not,
 * unlike `crypto.randomUUID`.
 */
export function generateMessageId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (const byte of bytes) id += byte.toString(16).padStart(2, '0');
  return id;
}
