import { Ajv, type Options as AjvOptions } from 'ajv';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

// Fastify's default Ajv coerces types and silently strips properties that a schema with
// `additionalProperties: false` does not list. The API rejects both instead, so a client bug
// gets a 400 rather than a request that means something other than what was sent.
const STRICT_OPTIONS: AjvOptions = {
  allErrors: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
};

/**
 * Builds the validator compiler of the API routes.
 *
 * Bodies are JSON and must carry the right types. Query strings, path parameters and headers
 * arrive as text, so their values are coerced to the schema's scalar types (`"20"` to 20), but
 * unknown properties are still rejected. Defaults in schemas are documentation only, and the
 * handlers apply them.
 */
export function buildValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const bodyAjv = new Ajv(STRICT_OPTIONS);
  const textAjv = new Ajv({ ...STRICT_OPTIONS, coerceTypes: true });

  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? bodyAjv : textAjv;
    return ajv.compile(schema as object);
  };
}
