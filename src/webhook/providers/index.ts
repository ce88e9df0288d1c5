import { bitbucket } from './bitbucket/index.js';
import { gitea } from './gitea/index.js';
import { github } from './github/index.js';
import { gitlab } from './gitlab/index.js';
import { standardWebhooks } from './standard-webhooks/index.js';
import type { WebhookProvider, WebhookRequest } from './types.js';

export type { WebhookEvent, WebhookProvider, WebhookRequest, WebhookSecrets, Verification } from './types.js';

/**
 * Every provider, most specific first: Gitea/Forgejo/Gogs also send X-Hub-Signature-256 and
 * Bitbucket an X-Hub-Signature, so both come before GitHub.
 */
export const webhookProviders: readonly WebhookProvider[] = [gitea, gitlab, bitbucket, standardWebhooks, github];

/**
 * The provider whose headers the request carries. A request with none is GitHub's: the seed's
 * CI sends only X-Hub-Signature-256, and a request without it is then refused as unsigned.
 */
export function detectProvider(headers: WebhookRequest['headers']): WebhookProvider {
  return webhookProviders.find((provider) => provider.detect(headers)) ?? github;
}
