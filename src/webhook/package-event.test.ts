import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isAppError } from '../errors.js';
import { readPackageEvent } from './package-event.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const isInvalidJson = (error: unknown) => isAppError(error) && error.code === 'INVALID_JSON' && error.status === 400;

describe('readPackageEvent', () => {
  it('triggers on an empty body (the old CI) and on whitespace only', () => {
    assert.deepEqual(readPackageEvent(new Uint8Array(0)), { trigger: true });
    assert.deepEqual(readPackageEvent(bytes(' \n\t\r\n')), { trigger: true });
  });

  it('triggers on action "published"', () => {
    assert.deepEqual(readPackageEvent(bytes('{"action":"published"}')), { trigger: true });
  });

  it('triggers on a JSON object without an action', () => {
    assert.deepEqual(readPackageEvent(bytes('{}')), { trigger: true });
    assert.deepEqual(readPackageEvent(bytes('{"image":"ghcr.io/example-org/app:latest"}')), { trigger: true });
  });

  it('does not trigger on other actions, and says why', () => {
    const verdict = readPackageEvent(bytes('{"action":"updated"}'));
    assert.equal(verdict.trigger, false);
    assert.ok(!verdict.trigger);
    assert.match(verdict.note, /"updated"/);
    assert.match(verdict.note, /published/);
  });

  it('bounds the action echoed in the note', () => {
    const verdict = readPackageEvent(bytes(JSON.stringify({ action: 'x'.repeat(10_000) })));
    assert.ok(!verdict.trigger);
    assert.ok(verdict.note.length < 200);
  });

  it('refuses invalid JSON with INVALID_JSON', () => {
    assert.throws(() => readPackageEvent(bytes('{"action":')), isInvalidJson);
    assert.throws(() => readPackageEvent(bytes('action=published')), isInvalidJson);
  });

  it('refuses JSON that is not an object with INVALID_JSON', () => {
    for (const text of ['[]', '[{"action":"published"}]', '"published"', '42', 'null', 'true']) {
      assert.throws(() => readPackageEvent(bytes(text)), isInvalidJson, text);
    }
  });

  it('refuses a non-string action with INVALID_JSON', () => {
    assert.throws(() => readPackageEvent(bytes('{"action":1}')), isInvalidJson);
  });

  it('triggers on a real GitHub registry_package published payload', () => {
    const fixture = readFileSync(new URL('./fixtures/github-registry-package-published.json', import.meta.url));
    const payload = JSON.parse(fixture.toString('utf8'));
    assert.equal(payload.action, 'published');
    assert.equal(payload.registry_package.package_type, 'CONTAINER');
    assert.equal(payload.registry_package.package_version.container_metadata.tag.name, 'latest');
    assert.deepEqual(readPackageEvent(fixture), { trigger: true });

    const updated = bytes(JSON.stringify({ ...payload, action: 'updated' }));
    assert.equal(readPackageEvent(updated).trigger, false);
  });
});
