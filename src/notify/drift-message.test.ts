import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildWebhookPayload } from './channels.js';
import { buildDriftNotification } from './drift-message.js';

const notice = {
  kind: 'drifted' as const, service: 'app', reasons: ['container app-web-1 exited (code 137)'], since: '2026-01-02T03:04:05.000Z',
  commit: '9f8e7d6c5b4a39281706f5e4d3c2b1a098765432', healRunId: null, held: null,
};

describe('buildDriftNotification', () => {
  it('names the service, the deployed commit and every finding, and links to the service', () => {
    const n = buildDriftNotification(notice, { serverName: 'home', publicUrl: 'https://deploy.example.com' });
    assert.equal(n.kind, 'drift');
    assert.equal(n.title, '[home] drifted: app (deployed 9f8e7d6)');
    assert.match(n.text, /app on home no longer runs what was deployed/);
    assert.match(n.text, /- container app-web-1 exited \(code 137\)/);
    assert.match(n.text, /SELF_HEAL=true/);
    assert.match(n.text, /Details: https:\/\/deploy\.example\.com\/#\/services\/app/);
    assert.equal(n.outcome.dashboardUrl, 'https://deploy.example.com/#/services/app');
  });

  it('says a heal is under way, or that the flap limit holds the service', () => {
    assert.match(buildDriftNotification({ ...notice, healRunId: 'r_1' }, { serverName: 'home', publicUrl: undefined }).text, /Self-heal: redeploying it \(run r_1\)/);
    const held = buildDriftNotification({ ...notice, kind: 'held', held: 'held: healed 3 times in the last hour' }, { serverName: 'home', publicUrl: undefined });
    assert.equal(held.title, '[home] drift not healed: app (held: healed 3 times in the last hour)');
    assert.match(held.text, /keeps drifting/);
  });

  it('goes out on the generic webhook as service.drift, with the drift and no run', () => {
    const payload = buildWebhookPayload(buildDriftNotification(notice, { serverName: 'home', publicUrl: undefined }));
    assert.equal(payload.event, 'service.drift');
    assert.equal(payload.run, null);
    assert.deepEqual(payload.drift, notice);
    assert.deepEqual(payload.services, { failed: ['app'], recovered: [], succeeded: [] });
  });
});
