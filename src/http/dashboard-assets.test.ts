import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_DASHBOARD_DIR, registerDashboard } from './dashboard-assets.js';

describe('dashboard assets', () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'gds-dashboard-'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script>');
    writeFileSync(path.join(dir, 'app.js'), 'export const x = 1;');
    writeFileSync(path.join(dir, 'notes.txt'), 'not served');
    app = Fastify();
    registerDashboard(app, dir);
    await app.ready();
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and its modules with a strict CSP, revalidated by ETag', async () => {
    const page = await app.inject('/');
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const again = await app.inject({ url: '/', headers: { 'if-none-match': String(page.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    const script = await app.inject('/assets/app.js');
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.equal(script.body, 'export const x = 1;');
    assert.notEqual(script.headers.etag, page.headers.etag);
  });

  it('serves only the files found at start-up, by name', async () => {
    for (const url of ['/assets/notes.txt', '/assets/index.html', '/assets/..%2Fpackage.json', '/assets/missing.js']) {
      assert.equal((await app.inject(url)).statusCode, 404, url);
    }
  });

  it('ships the dashboard beside the server', async () => {
    const shipped = Fastify();
    registerDashboard(shipped);
    const page = await shipped.inject('/');
    assert.equal(page.statusCode, 200, `no index.html in ${DEFAULT_DASHBOARD_DIR}`);
    const modules = [...page.body.matchAll(/src="\/assets\/([^"]+)"/g)].map((m) => m[1]);
    assert.ok(modules.length > 0);
    for (const name of modules) assert.equal((await shipped.inject(`/assets/${name}`)).statusCode, 200, name);
    await shipped.close();
  });
});
