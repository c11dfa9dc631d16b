import type { FastifyInstance } from 'fastify';
import { REQUEST_ID_HEADER, type Readiness } from '@switchboard/core';
import type { SwitchboardMetrics } from './metrics.ts';

export interface HttpOperationsOptions {
  metrics: SwitchboardMetrics;
  /** Readiness behind GET /readyz: 200 when ready, 503 with the failed checks otherwise. */
  readiness: Pick<Readiness, 'report'>;
  /** Whether to serve GET /healthz, true by default. The API's own plugin serves it already. */
  healthRoute?: boolean;
  /** Whether to serve GET /metrics, true by default. False when SWB_METRICS_PORT serves it. */
  metricsRoute?: boolean;
}

/** Route label of requests that matched no route, so that probing random paths adds no series. */
const UNMATCHED_ROUTE = 'unmatched';
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/**
 * Adds the operations endpoints to a fastify app: GET /readyz and, unless turned off,
 * GET /metrics and GET /healthz. It also counts every response in `switchboard_http_requests_total` and
 * echoes the request id in `X-Request-Id`.
 *
 * Call it on the root instance before the app is ready, so that its hooks see every route.
 */
export function registerHttpOperations(app: FastifyInstance, options: HttpOperationsOptions): void {
  const { metrics, readiness } = options;

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const statusClass = STATUS_CLASSES[Math.floor(reply.statusCode / 100) - 1] ?? 'other';
    metrics.httpRequests.inc({ route, status_class: statusClass });
  });

  // Kept out of the OpenAPI document: these are for Prometheus and the kubelet, not clients.
  const hide = { hide: true } as Record<string, unknown>;
  if (options.metricsRoute ?? true) {
    app.get('/metrics', { schema: hide }, async (_request, reply) => {
      const text = await metrics.render();
      return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
    });
  }
  app.get('/readyz', { schema: hide }, async (_request, reply) => {
    const report = await readiness.report();
    return reply
      .code(report.status === 'ready' ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(report);
  });
  if (options.healthRoute ?? true) {
    app.get('/healthz', { schema: hide }, async () => ({ status: 'ok' }));
  }
}
