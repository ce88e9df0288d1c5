import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from './prometheus-metrics.js';

describe('prometheus metrics', () => {
  it('counts webhooks, runs and deployments, and reads gauges at scrape time', async () => {
    let depth = 2;
    const metrics = createMetrics({
      version: '1.2.3',
      serverName: 'home',
      queueDepth: () => depth,
      servicesByState: () => ({ 'in-sync': 7, failed: 1 }),
    });
    metrics.webhook('/deploy-all-changed', 'accepted');
    metrics.webhook('/deploy-all-changed', 'accepted');
    metrics.webhook('/redeploy-and-update/:service', 'rejected');
    const event = (type: 'run' | 'deployment' | 'end', data: Record<string, unknown>) => metrics.observe({ id: 1, runId: 'r', type, data });
    event('run', { status: 'running', stage: 'synced' });
    event('deployment', { service: 'app', action: 'deploy', status: 'running', runtime: 'podman' });
    event('deployment', { service: 'app', action: 'deploy', status: 'succeeded', runtime: 'podman', durationSeconds: 4.2 });
    event('deployment', { service: 'db', action: 'update', status: 'failed', runtime: 'docker', durationSeconds: 40 });
    event('deployment', { service: 'web', action: 'skip', status: 'skipped' });
    event('end', { trigger: 'deploy-all-changed', status: 'failed' });
    depth = 3;

    const text = await metrics.render();
    assert.match(text, /^gds_webhooks_total\{route="\/deploy-all-changed",outcome="accepted"\} 2$/m);
    assert.match(text, /^gds_webhooks_total\{route="\/redeploy-and-update\/:service",outcome="rejected"\} 1$/m);
    assert.match(text, /^gds_runs_total\{trigger="deploy-all-changed",status="failed"\} 1$/m);
    assert.match(text, /^gds_deployments_total\{service="app",runtime="podman",action="deploy",status="succeeded"\} 1$/m);
    assert.match(text, /^gds_deployments_total\{service="db",runtime="docker",action="update",status="failed"\} 1$/m);
    assert.doesNotMatch(text, /service="web"/, 'skips are not deployments');
    assert.doesNotMatch(text, /status="running"/, 'only final states are counted');
    assert.match(text, /^gds_deployment_duration_seconds_bucket\{le="5",service="app",runtime="podman",action="deploy"\} 1$/m);
    assert.match(text, /^gds_deployment_duration_seconds_count\{service="db",runtime="docker",action="update"\} 1$/m);
    assert.match(text, /^gds_queue_depth 3$/m);
    assert.match(text, /^gds_services\{state="in-sync"\} 7$/m);
    assert.match(text, /^gds_services\{state="changed"\} 0$/m);
    assert.match(text, /^gds_build_info\{version="1.2.3",node_version="v\d+\.\d+\.\d+",server_name="home"\} 1$/m);
    const lastSync = Number(/^gds_last_successful_sync_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    assert.ok(Math.abs(lastSync - Date.now() / 1000) < 60, `last sync ${lastSync}`);
    assert.match(text, /^process_cpu_user_seconds_total /m);
  });

  it('counts rollbacks, automatic (a gate failure undone) and on demand, and shows pinned services', async () => {
    const metrics = createMetrics({ version: '1', serverName: 'home', queueDepth: () => 0, servicesByState: () => ({ pinned: 1, 'rolled-back': 2 }) });
    const event = (data: Record<string, unknown>) => metrics.observe({ id: 1, runId: 'r', type: 'deployment', data });
    event({ service: 'app', action: 'deploy', status: 'rolled-back', runtime: 'podman' });
    event({ service: 'app', action: 'deploy', status: 'succeeded', runtime: 'podman', rollback: 'manual' });
    event({ service: 'app', action: 'deploy', status: 'succeeded', runtime: 'podman' });
    const text = await metrics.render();
    assert.match(text, /^gds_rollbacks_total\{service="app",kind="automatic"\} 1$/m);
    assert.match(text, /^gds_rollbacks_total\{service="app",kind="manual"\} 1$/m);
    assert.match(text, /^gds_services\{state="pinned"\} 1$/m);
    assert.match(text, /^gds_services\{state="rolled-back"\} 2$/m);
  });

  it('counts self-heals of drifted services and shows drifted services', async () => {
    const metrics = createMetrics({ version: '1', serverName: 'home', queueDepth: () => 0, servicesByState: () => ({ drifted: 1 }) });
    metrics.driftHeal?.('app');
    metrics.driftHeal?.('app');
    const text = await metrics.render();
    assert.match(text, /^gds_drift_heals_total\{service="app"\} 2$/m);
    assert.match(text, /^gds_services\{state="drifted"\} 1$/m);
  });
});
