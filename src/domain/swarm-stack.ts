import { posix } from 'node:path';
import { inputFileKey } from './service-layout.js';

/**
 * What the server changes in a Docker Swarm stack file before `docker stack deploy` reads it
 * (from stdin; the operator's file is never modified). Pure: takes the parsed document.
 *
 * - Swarm configs and secrets are immutable, so each one made from a `file:` gets a
 *   content-addressed `name:` (`<stack>_<key>_<sha12>`): a changed file is a new object, and
 *   only the services that use it get a new spec (Swarm rolls exactly those).
 * - `deploy.update_config.failure_action` defaults to `rollback` (Swarm's own health gate and
 *   rollback), unless the stack file sets one or rollback is off for the service.
 * - An image reference that the running service already runs pinned (`ref@sha256:…`, as
 *   `docker stack deploy` resolves it) stays pinned: a deploy never moves a tag (as for compose
 *   services, where only an update pulls); `redeploy-and-update` does.
 */

/** Swarm refuses config and secret names longer than this. */
const MAX_OBJECT_NAME = 64;

/** The content-addressed name of a config or secret made from a file with this sha256. */
export function contentAddressedName(stack: string, key: string, sha256: string): string {
  const suffix = `_${sha256.slice(0, 12)}`;
  return `${stack}_${key}`.slice(0, MAX_OBJECT_NAME - suffix.length) + suffix;
}

/** Whether a config or secret name is one this server made for the stack (the ones it may remove). */
export function isContentAddressedName(stack: string, name: string): boolean {
  return name.startsWith(`${stack}_`) && /_[0-9a-f]{12}$/.test(name);
}

export interface StackObjectFile {
  section: 'configs' | 'secrets';
  key: string;
  /** As written in the stack file (relative to its directory, or absolute). */
  file: string;
}

type Mapping = Record<string, unknown>;
const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The configs and secrets of a stack that are made from files (external and named ones are the operator's). */
export function stackObjectFiles(document: unknown): StackObjectFile[] {
  if (!isMapping(document)) return [];
  const found: StackObjectFile[] = [];
  for (const section of ['configs', 'secrets'] as const) {
    const entries = document[section];
    if (!isMapping(entries)) continue;
    for (const [key, definition] of Object.entries(entries)) {
      if (isMapping(definition) && typeof definition['file'] === 'string' && definition['external'] !== true) found.push({ section, key, file: definition['file'] });
    }
  }
  return found;
}

export interface RenderInput {
  stack: string;
  /** Absolute directory of the stack file: relative paths are resolved against it. */
  dir: string;
  /** sha256 of each input file by its key in the service's `files` (ServiceSource.files). */
  digests: Readonly<Record<string, string>>;
  /** Per stack service, the pinned reference its running spec holds (`ref@sha256:…`). */
  runningImages: Readonly<Record<string, string>>;
  /** False: Swarm pauses a failing update instead of rolling it back (ROLLBACK_ON_FAILURE, x-gitops). */
  rollback: boolean;
}

export interface RenderedStack {
  document: Mapping;
  /** Names of the configs and secrets the rendered stack uses (the ones to keep after a converge). */
  objectNames: string[];
  /** The stack services, in document order. */
  services: string[];
}

/** The stack document as it is deployed (see the header comment). */
export function renderStack(document: unknown, input: RenderInput): RenderedStack {
  if (!isMapping(document) || !isMapping(document['services'])) throw new Error('the stack file has no services mapping');
  const rendered = structuredClone(document) as Mapping;
  delete rendered['x-gitops'];
  const objectNames: string[] = [];
  for (const object of stackObjectFiles(document)) {
    const entry = (rendered[object.section] as Mapping)[object.key] as Mapping;
    const key = inputFileKey(object.file);
    const digest = input.digests[key];
    if (digest === undefined || !/^[0-9a-f]{64}$/.test(digest)) throw new Error(`${object.section}.${object.key}: ${object.file} cannot be read`);
    // Read from stdin, the stack has no directory of its own: paths must be absolute.
    entry['file'] = posix.isAbsolute(key) ? key : posix.join(input.dir, key);
    entry['name'] ??= contentAddressedName(input.stack, object.key, digest);
    objectNames.push(String(entry['name']));
  }
  const services = rendered['services'] as Mapping;
  for (const [name, raw] of Object.entries(services)) {
    const service = (isMapping(raw) ? raw : {}) as Mapping;
    services[name] = service;
    const running = input.runningImages[name];
    if (typeof service['image'] === 'string' && running && running.startsWith(`${service['image']}@sha256:`)) service['image'] = running;
    const deploy = (isMapping(service['deploy']) ? service['deploy'] : (service['deploy'] = {})) as Mapping;
    const update = (isMapping(deploy['update_config']) ? deploy['update_config'] : (deploy['update_config'] = {})) as Mapping;
    update['failure_action'] ??= input.rollback ? 'rollback' : 'pause';
  }
  return { document: rendered, objectNames: objectNames.sort(), services: Object.keys(services) };
}

/** `ref@sha256:…` → `ref`; a reference without a digest as it is. */
export function withoutDigest(reference: string): string {
  const at = reference.indexOf('@');
  return at < 0 ? reference : reference.slice(0, at);
}

/** `ref@sha256:…` → `sha256:…`, or undefined without a digest. */
export function digestOf(reference: string): string | undefined {
  const at = reference.indexOf('@');
  return at < 0 ? undefined : reference.slice(at + 1);
}
