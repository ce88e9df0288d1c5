import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FINAL_DEPLOYMENT_STATUSES } from '../domain/types.js';
import type { Metrics } from '../ports/metrics.js';

export type { Metrics, WebhookOutcome } from '../ports/metrics.js';

export interface MetricsDeps {
  version: string;
  serverName: string;
  /** Runs executing or waiting. */
  queueDepth(): number;
  /** Services by state (in-sync, changed, failed, ...), read when Prometheus scrapes: from memory and the store, never the disk. */
  servicesByState(): Record<string, number>;
}


/**
 * Prometheus metrics on a registry of their own (no global state: tests open several servers).
 * Everything is `gds_`-prefixed; Node's default process metrics come along unprefixed.
 */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const webhooks = new Counter({
    name: 'gds_webhooks_total',
    help: 'Webhook requests answered, by route and outcome (accepted, ignored, rejected, error)',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
  });
  const runs = new Counter({
    name: 'gds_runs_total',
    help: 'Runs finished, by trigger and status',
    labelNames: ['trigger', 'status'] as const,
    registers: [registry],
  });
  const deployments = new Counter({
    name: 'gds_deployments_total',
    help: 'Deployments finished, by service, runtime, action and status',
    labelNames: ['service', 'runtime', 'action', 'status'] as const,
    registers: [registry],
  });
  const rollbacks = new Counter({
    name: 'gds_rollbacks_total',
    help: 'Rollbacks carried out, by service and kind (automatic: after a failed health gate; manual: asked for)',
    labelNames: ['service', 'kind'] as const,
    registers: [registry],
  });
  const heals = new Counter({
    name: 'gds_drift_heals_total',
    help: 'Redeploys self-heal queued for drifted services, by service',
    labelNames: ['service'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gds_deployment_duration_seconds',
    help: 'Time a deployment took, from start to its final state, by service and runtime',
    labelNames: ['service', 'runtime', 'action'] as const,
    buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  });
  const lastSync = new Gauge({
    name: 'gds_last_successful_sync_timestamp_seconds',
    help: 'Unix time of the last successful sync of the environment repository',
    registers: [registry],
  });
  new Gauge({
    name: 'gds_queue_depth',
    help: 'Runs executing or waiting',
    registers: [registry],
    collect() {
      this.set(deps.queueDepth());
    },
  });
  const states = ['in-sync', 'changed', 'never-deployed', 'failed', 'rolled-back', 'pinned', 'problem', 'self', 'drifted', 'orphaned'];
  new Gauge({
    name: 'gds_services',
    help: 'Services in the environment repository, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = deps.servicesByState();
      for (const state of new Set([...states, ...Object.keys(counts)])) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: 'gds_build_info',
    help: 'Version of the server; always 1',
    labelNames: ['version', 'node_version', 'server_name'] as const,
    registers: [registry],
  }).set({ version: deps.version, node_version: process.version, server_name: deps.serverName }, 1);

  return {
    contentType: registry.contentType,
    webhook(route, outcome) {
      webhooks.inc({ route, outcome });
    },
    observe(event) {
      const data = event.data;
      if (event.type === 'end') {
        runs.inc({ trigger: String(data['trigger'] ?? 'unknown'), status: String(data['status']) });
      } else if (event.type === 'run' && data['stage'] === 'synced') {
        lastSync.set(Date.now() / 1000);
      } else if (event.type === 'deployment' && FINAL_DEPLOYMENT_STATUSES.has(String(data['status'])) && data['action'] !== 'skip') {
        const labels = { service: String(data['service']), runtime: String(data['runtime'] ?? 'unknown'), action: String(data['action']) };
        deployments.inc({ ...labels, status: String(data['status']) });
        if (data['status'] === 'rolled-back') rollbacks.inc({ service: labels.service, kind: 'automatic' });
        else if (data['status'] === 'succeeded' && data['rollback'] === 'manual') rollbacks.inc({ service: labels.service, kind: 'manual' });
        if (typeof data['durationSeconds'] === 'number') duration.observe(labels, data['durationSeconds']);
      }
    },
    driftHeal(service) {
      heals.inc({ service });
    },
    render: () => registry.metrics(),
  };
}
