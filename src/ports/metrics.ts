import type { RunEventRecord } from './store.js';

export type WebhookOutcome = 'accepted' | 'ignored' | 'rejected' | 'error';

/** What the HTTP layer and the run observers feed into, and what `/metrics` renders. */
export interface Metrics {
  readonly contentType: string;
  /** A webhook request answered: by route pattern and outcome. */
  webhook(route: string, outcome: WebhookOutcome): void;
  /** Feeds run events (from the run event bus) into the run and deployment metrics. */
  observe(event: RunEventRecord): void;
  /** Self-heal queued a redeploy of a drifted service (`gds_drift_heals_total`). */
  driftHeal?(service: string): void;
  render(): Promise<string>;
}
