import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AppError, errorCatalog, toAppError } from './errors.js';

test('every error code is documented in the README with its status', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(errorCatalog)) {
    assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} (${status}) is missing from the README's error table`);
  }
});

test('an AppError carries its catalog status and default message', () => {
  const error = new AppError('UNKNOWN_SERVICE');
  assert.equal(error.status, 404);
  assert.equal(error.message, errorCatalog.UNKNOWN_SERVICE.message);
});

test('anything thrown becomes an INTERNAL AppError, AppErrors pass through', () => {
  assert.equal(toAppError(new Error('boom')).code, 'INTERNAL');
  assert.equal(toAppError('text').message, 'text');
  const original = new AppError('PULL_FAILED');
  assert.equal(toAppError(original), original);
});
