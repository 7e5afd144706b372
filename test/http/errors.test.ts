import assert from 'node:assert/strict';
import test from 'node:test';
import { HTTP_ERRORS } from '../../src/http/errors.js';
import { readmeTable } from '../helpers/readme.js';

test("README's table of HTTP errors is the code's catalogue, in order", () => {
  assert.deepEqual(
    readmeTable('http-errors'),
    Object.entries(HTTP_ERRORS).map(([code, e]) => [code, String(e.status), e.description]),
  );
});
