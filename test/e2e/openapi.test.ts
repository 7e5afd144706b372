// The API description every tool accepts: /openapi.json of a real server validates with a standard
// OpenAPI validator, each of its patterns compiles as a JavaScript RegExp without the u flag (as
// Swagger UI's "Try it out" and JSON Schema tools compile them), and the names' rule read that way
// accepts exactly the names the server accepts.

import assert from 'node:assert/strict';
import test from 'node:test';
import { compileErrors, validate } from '@readme/openapi-parser';
import { SAMPLE_NAMES } from '../helpers/names.js';
import { get, post, startServer } from '../helpers/server.js';

type Json = Record<string, any>;

test('/openapi.json validates, its patterns read without the u flag, and names agree with the server', async (t) => {
  const server = await startServer(t);
  const response = await fetch(`${server.url}/openapi.json`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const document = JSON.parse(text) as Json;
  t.diagnostic(`/openapi.json: ${text.length} bytes`);

  await t.test('a standard validator accepts it', async () => {
    const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
    assert.ok(result.valid, result.valid ? '' : compileErrors(result));
  });

  await t.test('every pattern compiles as a RegExp without the u flag', () => {
    const patterns = collectPatterns(document);
    assert.ok(patterns.length > 5, `${patterns.length} patterns found`);
    for (const { at, pattern } of patterns) assert.doesNotThrow(() => new RegExp(pattern), at);
  });

  await t.test(
    'each name field of the document accepts the names the server accepts, and no other',
    async () => {
      const filter = nameRule(document, parameterSchema(document, '/orders', 'get', 'user'));
      const pathName = nameRule(document, parameterSchema(document, '/users/{name}', 'get', 'name'));
      const body = document.paths['/orders'].post.requestBody.content['application/json'].schema;
      const strategy = nameRule(document, body.properties.strategy);
      for (const name of SAMPLE_NAMES) {
        const queried = await get(`${server.url}/orders?user=${encodeURIComponent(name)}`);
        const served = queried.status !== 400;
        assert.equal(filter(name), served, `GET /orders?user=${JSON.stringify(name)}: ${queried.status}`);
        assert.equal(pathName(name), served, `the path's rule on ${JSON.stringify(name)}`);
        const placed = await post(`${server.url}/orders`, {
          strategy: name,
          instrument: 'GRASIM',
          position: 'BUY',
        });
        assert.equal(strategy(name), placed.status === 200, `POST /orders strategy ${JSON.stringify(name)}`);
      }
    },
  );
});

/** Every `pattern` and every patternProperties key in the document, with where it is. */
function collectPatterns(node: unknown, at = '#'): { at: string; pattern: string }[] {
  if (typeof node !== 'object' || node === null) return [];
  const found: { at: string; pattern: string }[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'pattern' && typeof value === 'string') found.push({ at: `${at}/pattern`, pattern: value });
    if (key === 'patternProperties' && typeof value === 'object' && value !== null)
      for (const pattern of Object.keys(value)) found.push({ at: `${at}/patternProperties`, pattern });
    found.push(...collectPatterns(value, `${at}/${key}`));
  }
  return found;
}

function parameterSchema(document: Json, path: string, method: string, name: string): Json {
  const parameter = (document.paths[path][method].parameters as Json[]).find((p) => p.name === name);
  assert.ok(parameter, `${method.toUpperCase()} ${path} has the parameter ${name}`);
  return parameter.schema;
}

/** A name schema's rule as a JSON Schema tool reads it: lengths in code points, the pattern without u. */
function nameRule(document: Json, schema: Json): (name: string) => boolean {
  const resolved = resolve(document, schema);
  assert.equal(resolved.type, 'string');
  const pattern = new RegExp(resolved.pattern);
  return (name) => {
    const length = [...name].length;
    return length >= resolved.minLength && length <= resolved.maxLength && pattern.test(name);
  };
}

/** Follows $ref and a one-member allOf, the two ways the document points a name at its component. */
function resolve(document: Json, schema: Json): Json {
  if (typeof schema.$ref === 'string') {
    const path = (schema.$ref as string).replace(/^#\//, '').split('/');
    return resolve(
      document,
      path.reduce((node: Json, key) => node[key], document),
    );
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return resolve(document, schema.allOf[0]);
  return schema;
}
