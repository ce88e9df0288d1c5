import { readFileSync } from 'node:fs';
import { AppError } from '../errors.js';

/** Every manifest type a tag can point at: a multi-arch index answers with its own digest. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const TIMEOUT_MS = 30_000;

/** `registry/repository:tag` split; Docker Hub's short names are expanded as docker does. */
export function splitReference(reference: string): { registry: string; repository: string; tag: string } | null {
  const text = reference.trim();
  if (text === '' || text.includes('@')) return null;
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  const name = colon > slash ? text.slice(0, colon) : text;
  const tag = colon > slash ? text.slice(colon + 1) : 'latest';
  const parts = name.split('/');
  const first = parts[0]!;
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first.toLowerCase() : 'docker.io';
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  const path = (hasRegistry ? parts.slice(1) : parts).join('/');
  const repository = registry === 'docker.io' && !path.includes('/') ? `library/${path}` : path;
  if (repository === '' || tag === '') return null;
  return { registry, repository, tag };
}

/** Keys an auth file may use for a registry (Docker writes Docker Hub's as a v1 URL). */
function authKeys(registry: string): string[] {
  if (registry === 'docker.io') return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [registry, `https://${registry}`, `http://${registry}`];
}

/** Loopback registries speak plain HTTP, as docker and podman assume for them; every other one HTTPS. */
function baseUrl(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io';
  const host = registry.replace(/:\d+$/, '');
  const plain = host === 'localhost' || /^127\./.test(host) || host === '[::1]';
  return `${plain ? 'http' : 'https'}://${registry}`;
}

/** `Bearer realm="...",service="...",scope="..."` → its parameters. */
function challenge(header: string | null): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const match = /^(\w+)\s*(.*)$/.exec(header.trim());
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, value] of match[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[key!.toLowerCase()] = value!;
  return { scheme: match[1]!.toLowerCase(), params };
}

/**
 * The digest a registry serves for a tag, asked with one HEAD of the manifest (Registry HTTP API
 * v2, `Docker-Content-Digest`): no layer is downloaded and the engine is not touched. Credentials
 * come from the merged auth file (`REGISTRY_AUTH_FILE` from prepareRegistryAuth), read afresh on
 * each call because a sync may have changed the secrets; Basic is sent only after the registry
 * asks for it, and a Bearer challenge is answered through its token service.
 */
export function createRegistryDigests(deps: { authEnv: () => Record<string, string>; fetch?: typeof fetch }): { digest(reference: string): Promise<string> } {
  const doFetch = deps.fetch ?? fetch;

  const credentialsFor = (registry: string): string | undefined => {
    const file = deps.authEnv()['REGISTRY_AUTH_FILE'];
    if (!file) return undefined;
    const auths = (JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> }).auths ?? {};
    for (const key of authKeys(registry)) if (auths[key]?.auth) return auths[key]!.auth;
    return undefined;
  };

  return {
    async digest(reference) {
      const parts = splitReference(reference);
      if (!parts) throw new AppError('PULL_FAILED', `${reference} is not a tag reference that can be polled`);
      const url = `${baseUrl(parts.registry)}/v2/${parts.repository}/manifests/${encodeURIComponent(parts.tag)}`;
      const head = (authorization?: string) =>
        doFetch(url, { method: 'HEAD', headers: { accept: MANIFEST_TYPES, ...(authorization ? { authorization } : {}) }, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const failed = (why: string) => new AppError('PULL_FAILED', `asking ${parts.registry} for the digest of ${reference} failed: ${why}`, { details: { reference } });

      let response = await head().catch((error: unknown) => { throw failed((error as Error).message); });
      if (response.status === 401) {
        const basic = credentialsFor(parts.registry);
        const asked = challenge(response.headers.get('www-authenticate'));
        let authorization: string | undefined;
        if (asked?.scheme === 'basic' && basic) authorization = `Basic ${basic}`;
        if (asked?.scheme === 'bearer' && asked.params['realm']) {
          const tokenUrl = new URL(asked.params['realm']);
          if (asked.params['service']) tokenUrl.searchParams.set('service', asked.params['service']);
          tokenUrl.searchParams.set('scope', asked.params['scope'] ?? `repository:${parts.repository}:pull`);
          const tokenResponse = await doFetch(tokenUrl, { headers: basic ? { authorization: `Basic ${basic}` } : {}, signal: AbortSignal.timeout(TIMEOUT_MS) })
            .catch((error: unknown) => { throw failed(`token service: ${(error as Error).message}`); });
          if (!tokenResponse.ok) throw failed(`token service answered ${tokenResponse.status}`);
          const body = (await tokenResponse.json()) as { token?: string; access_token?: string };
          const token = body.token ?? body.access_token;
          if (token) authorization = `Bearer ${token}`;
        }
        if (authorization === undefined) throw failed('the registry wants credentials and none are configured for it');
        response = await head(authorization).catch((error: unknown) => { throw failed((error as Error).message); });
      }
      if (!response.ok) throw failed(`the registry answered ${response.status}`);
      const digest = response.headers.get('docker-content-digest');
      if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw failed('the answer carries no Docker-Content-Digest');
      return digest;
    },
  };
}
