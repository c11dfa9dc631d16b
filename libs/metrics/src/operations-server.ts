import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildErrorBody, type Logger, type Readiness } from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';
import type { SwitchboardMetrics } from './metrics.ts';

export interface OperationsServerOptions {
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  metrics: SwitchboardMetrics;
  /** Readiness behind GET /readyz: 200 when ready, 503 with the failed checks otherwise. */
  readiness: Pick<Readiness, 'report'>;
  logger: Logger;
}

/** A running operations server. */
export interface OperationsServer {
  /** Origin such as `http://127.0.0.1:9464`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics, /healthz and /readyz on their own port, for a service without an HTTP
 * API of its own (the persister).
 */
export async function startOperationsServer(options: OperationsServerOptions): Promise<OperationsServer> {
  const { metrics, readiness, logger } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const answer = async (): Promise<void> => {
      if (path === '/metrics') {
        const text = await metrics.render();
        response.writeHead(200, { 'content-type': metrics.contentType }).end(text);
      } else if (path === '/healthz') {
        sendJson(response, 200, { status: 'ok' });
      } else if (path === '/readyz') {
        const report = await readiness.report();
        sendJson(response, report.status === 'ready' ? 200 : 503, report);
      } else {
        sendJson(response, 404, buildErrorBody(ErrorCode.NotFound, `no route for ${request.method} ${path}`));
      }
    };
    answer().catch((err: unknown) => {
      logger.error({ err, path }, 'operations request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger.info({ url }, 'operations server listening');
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}
