import type { FastifyInstance } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';

/** Path of the swagger-ui page. The OpenAPI document is at `${API_DOCS_PREFIX}/json`. */
export const API_DOCS_PREFIX = '/docs';

/**
 * Registers the OpenAPI document and swagger-ui on `app`.
 *
 * The document lists the routes registered on `app` after this call, in its own context
 * and the contexts below it, so call it before registering routes.
 */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard API',
        description: 'Accounts, user search, conversations and message history of Switchboard.',
        version: 'v1',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Access token from POST /v1/auth/login, /v1/auth/register or /v1/auth/refresh.',
          },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: API_DOCS_PREFIX });
}
