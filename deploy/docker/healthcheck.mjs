// Docker HEALTHCHECK of a Switchboard image: GET /healthz on the service's own port.
// Exits 0 when the service responds with 2xx within 2 s, and 1 otherwise.
//
// The port comes from the variable the service itself reads, with the same default. The
// persister and the push worker serve /healthz on their metrics port. Plain JavaScript, so it
// starts without tsx.

/* global AbortSignal, console, fetch, process -- Node's globals; the lint config has none for .mjs files */

const PORTS = {
  router: ['SWB_ROUTER_PORT', 8081],
  api: ['SWB_API_PORT', 8080],
  'chat-node': ['SWB_CHAT_PORT', 9001],
  persister: ['SWB_METRICS_PORT', 9464],
  'push-worker': ['SWB_METRICS_PORT', 9465],
};

const service = process.env.SWB_SERVICE ?? '';
const entry = PORTS[service];
if (entry === undefined) {
  console.error(`healthcheck: SWB_SERVICE must be one of ${Object.keys(PORTS).join(', ')}, got "${service}"`);
  process.exit(1);
}
const [variable, fallback] = entry;
const port = process.env[variable] || String(fallback);

try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) {
    console.error(`healthcheck: GET /healthz on port ${port} returned ${response.status}`);
    process.exit(1);
  }
} catch (err) {
  console.error(
    `healthcheck: GET /healthz on port ${port} failed: ${err instanceof Error ? err.message : err}`,
  );
  process.exit(1);
}
