import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Two validators. Bodies are checked exactly as sent: no type coercion, no defaults, nothing
 * removed, because the body is what gets hashed and stored. Query strings and path parameters
 * are text by nature, so there numbers are coerced and repeated keys become arrays.
 */
export function buildValidatorCompiler(): FastifySchemaCompiler<unknown> {
  // verbose: an error carries its schema, so a message can quote the field's description.
  const shared: Options = { strict: false, allErrors: false, verbose: true };
  const body = withFormats(
    new Ajv({ ...shared, coerceTypes: false, useDefaults: false, removeAdditional: false }),
  );
  const text = withFormats(
    new Ajv({ ...shared, coerceTypes: 'array', useDefaults: true, removeAdditional: false }),
  );
  return ({ schema, httpPart }) => {
    const compiled = (httpPart === 'body' ? body : text).compile(schema as object);
    return (data: unknown) => {
      if (compiled(data) === true) return { value: data };
      return { error: Object.assign(new Error('validation failed'), { validation: compiled.errors ?? [] }) };
    };
  };
}

function withFormats(ajv: Ajv): Ajv {
  (addFormats as unknown as (instance: Ajv) => Ajv)(ajv);
  return ajv;
}
