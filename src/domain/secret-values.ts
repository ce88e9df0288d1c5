import { interpolate } from './interpolate.js';
import { isSecretKey } from './redact.js';

/**
 * Which values of a service are secrets, and so kept out of stored output, the event stream and
 * notifications. Pure: the caller reads the files. Secret are: every value of an untracked env
 * file (git-ignored `secrets/*.env` and the like), values under a secret-looking key anywhere
 * (tracked or not, env files and the compose file's `environment:`), the password of a
 * `scheme://user:password@` URL, and whatever `${VAR}` takes from the server's own environment.
 * Ordinary tracked values (a project name, `postgres`, a data path) are not: they stay readable.
 */
export interface SecretSources {
  /** Each env file read for the service, as the tool parses it. */
  envFiles: Array<{ values: Readonly<Record<string, string | undefined>>; tracked: boolean }>;
  /** The compose file's `environment:` entries (see composeEnvironment), interpolated. */
  environment: Array<readonly [string, string | undefined]>;
  /** Values that interpolation took from the server's environment (see fromServerEnvironment). */
  fromServer: string[];
}

export function secretValues(sources: SecretSources): string[] {
  const secrets = new Set<string>();
  const add = (value: string | undefined) => {
    if (value !== undefined && value.trim() !== '') secrets.add(value);
  };
  const consider = (key: string, value: string | undefined, secretByPlace: boolean) => {
    if (value === undefined) return;
    if (secretByPlace || isSecretKey(key)) add(value);
    for (const password of urlPasswords(value)) add(password);
  };
  for (const file of sources.envFiles) for (const [key, value] of Object.entries(file.values)) consider(key, value, !file.tracked);
  for (const [key, value] of sources.environment) consider(key, value, false);
  for (const value of sources.fromServer) add(value);
  return [...secrets];
}

/** `postgres://app:hunter2@db/app` → `hunter2`: connection strings hide passwords under any key. */
function urlPasswords(value: string): string[] {
  return [...value.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:([^\s@/]+)@/gi)].map((match) => match[1]!);
}

/**
 * The `environment:` entries of every compose service, as a list (`KEY=value`, `KEY`) or a
 * mapping, with `${VAR}` resolved from `variables`. A bare `KEY` takes the variable of that name,
 * as the tools take it from their environment.
 */
export function composeEnvironment(document: unknown, variables: Readonly<Record<string, string | undefined>>): Array<readonly [string, string | undefined]> {
  const services = (document as { services?: unknown } | null)?.services;
  if (typeof services !== 'object' || services === null) return [];
  const entries: Array<readonly [string, string | undefined]> = [];
  const resolve = (value: unknown) => (value === null || value === undefined ? undefined : interpolate(String(value), variables));
  for (const definition of Object.values(services as Record<string, unknown>)) {
    const environment = (definition as { environment?: unknown } | null)?.environment;
    if (Array.isArray(environment)) {
      for (const item of environment) {
        if (typeof item !== 'string') continue;
        const equals = item.indexOf('=');
        if (equals < 0) entries.push([item, variables[item]]);
        else entries.push([item.slice(0, equals), resolve(item.slice(equals + 1))]);
      }
    } else if (typeof environment === 'object' && environment !== null) {
      for (const [key, value] of Object.entries(environment)) entries.push([key, value === null ? variables[key] : resolve(value)]);
    }
  }
  return entries;
}

/** Names a text refers to as `$NAME`, `${NAME}`, `${NAME:-default}`, ... (`$$` is a literal dollar). */
export function referencedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) {
    const name = match[1] ?? match[2];
    if (name) names.add(name);
  }
  return names;
}

/**
 * The server-environment values a service's interpolation uses: a name the compose file refers to
 * whose effective value is the environment's (not a `.env` key that won over it), and a name an
 * env file's value refers to that the environment sets (its expansion carries the value).
 */
export function fromServerEnvironment(input: {
  composeText: string;
  envFileTexts: string[];
  environment: Readonly<Record<string, string | undefined>>;
  variables: Readonly<Record<string, string | undefined>>;
}): string[] {
  const { environment, variables } = input;
  const values: string[] = [];
  const own = (name: string) => (Object.hasOwn(environment, name) ? environment[name] : undefined);
  for (const name of referencedNames(input.composeText)) {
    const value = own(name);
    if (value !== undefined && variables[name] === value) values.push(value);
  }
  for (const text of input.envFileTexts) {
    for (const name of referencedNames(text)) {
      const value = own(name);
      if (value !== undefined) values.push(value);
    }
  }
  return values;
}
