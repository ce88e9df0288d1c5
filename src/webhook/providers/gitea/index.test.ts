import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { detectProvider } from '../index.js';
import { gitea } from './index.js';

const SECRET = 'gitea-secret-0123456789';
const body = readFileSync(new URL('./fixtures/push.json', import.meta.url));
const pkg = readFileSync(new URL('./fixtures/package.json', import.meta.url));
const hex = (b: Uint8Array) => createHmac('sha256', SECRET).update(b).digest('hex');

describe('gitea provider', () => {
  for (const flavour of ['forgejo', 'gogs']) {
    it(`verifies and reads ${flavour}'s own headers`, () => {
      const headers = { [`x-${flavour}-signature`]: hex(body), [`x-${flavour}-event`]: 'push', [`x-${flavour}-delivery`]: `${flavour}-1` };
      assert.equal(detectProvider(headers), gitea);
      assert.deepEqual(gitea.verify({ headers, body }, { current: SECRET }, 0), { ok: true, matched: 'current' });
      assert.deepEqual(gitea.readEvent({ headers, body }), { kind: 'push', branch: 'develop', deliveryId: `${flavour}-1` });
    });
  }

  it('refuses a sha256=-prefixed value (that is GitHub\'s format) as malformed', () => {
    const headers = { 'x-gitea-signature': `sha256=${hex(body)}` };
    assert.deepEqual(gitea.verify({ headers, body }, { current: SECRET }, 0), { ok: false, reason: 'malformed' });
  });

  it('reads a deleted package as not published, and a non-container package as naming no image', () => {
    const headers = { 'x-gitea-event': 'package' };
    const deleted = Buffer.from(pkg.toString('utf8').replace('"created"', '"deleted"'));
    assert.equal(gitea.readEvent({ headers, body: deleted }).published, false);
    const npm = Buffer.from(pkg.toString('utf8').replace('"container"', '"npm"'));
    assert.deepEqual(gitea.readEvent({ headers, body: npm }).images, []);
  });

  it('reads other events (issues, create) as other', () => {
    assert.equal(gitea.readEvent({ headers: { 'x-gitea-event': 'issues' }, body: Buffer.from('{}') }).kind, 'other');
  });
});
