/**
 * Which Compose Spec constructs each compose tool generation runs as written. Every row was
 * found by running the real tool (podman-compose 1.0.3 and 1.3.0 on Podman 4.3, docker-compose
 * 1.29.2 and Compose v2.26 on dockerd 20.10; see docs/ARCHITECTURE.md, "Compose files as
 * written"). A construct a generation cannot run is refused before anything is touched, with a
 * problem naming the construct and the tool version, instead of a Python stack trace mid-deploy
 * or, worse, a deployment that silently runs something other than the file says.
 */

/** A tool generation: the rows of the table differ only between these. */
export type ToolGeneration = 'podman-compose-1.0' | 'podman-compose-1.1+' | 'docker-compose-1' | 'compose-v2';

/** A compose tool as the check needs to know it. */
export interface ToolIdentity {
  /** `podman-compose`, `docker-compose`, `docker compose`. */
  name: string;
  /** As the tool reports it: `1.0.3`, `1.29.2`, `2.26.1`. */
  version: string;
}

/**
 * The generation of a tool. An unparsable version (`unknown`: the probe failed) counts as the
 * older generation, as tools.ts runs it then (Debian 12's behaviour); `docker compose` is always v2.
 */
export function toolGeneration(tool: ToolIdentity): ToolGeneration {
  const match = /^v?(\d+)\.(\d+)/.exec(tool.version);
  const [major, minor] = match ? [Number(match[1]), Number(match[2])] : [undefined, undefined];
  const older = major === undefined || minor === undefined;
  if (tool.name === 'podman-compose') return older || major < 1 || (major === 1 && minor < 1) ? 'podman-compose-1.0' : 'podman-compose-1.1+';
  if (tool.name === 'docker-compose') return older || major < 2 ? 'docker-compose-1' : 'compose-v2';
  return 'compose-v2';
}

type Mapping = Record<string, unknown>;
const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);
const servicesOf = (document: unknown): [string, Mapping][] =>
  isMapping(document) && isMapping(document['services'])
    ? Object.entries(document['services']).filter((entry): entry is [string, Mapping] => isMapping(entry[1]))
    : [];

/** One construct: how to find it in a document, and the generations that do not run it as written. */
interface Construct {
  /** As the problem names it. */
  name: string;
  /** Where the document uses it (a service name, or the top-level key), or undefined. */
  find(document: unknown): string | undefined;
  /** Generations that fail on it or ignore it, with what happens (for the problem message). */
  unsupported: Partial<Record<ToolGeneration, string>>;
  /** Why the server itself cannot deploy it yet, whatever the tool. */
  server?: string;
}

const firstService = (document: unknown, test: (definition: Mapping) => boolean) => servicesOf(document).find(([, d]) => test(d))?.[0];

/** The constructs whose support differs between generations. The rest of the issue-9 list runs everywhere (see the design page). */
export const CONSTRUCTS: readonly Construct[] = [
  {
    name: 'long-syntax env_file (path/required)',
    find: (document) =>
      firstService(document, (d) => Array.isArray(d['env_file']) && d['env_file'].some(isMapping)),
    unsupported: {
      'podman-compose-1.0': 'it crashes (TypeError: join() argument must be str ... not dict)',
      'docker-compose-1': 'it rejects the file (env_file ... should be a string)',
    },
  },
  {
    name: 'include',
    find: (document) => (isMapping(document) && document['include'] !== undefined ? 'top level' : undefined),
    unsupported: {
      'podman-compose-1.0': 'it ignores the key: the included services would not run',
      'docker-compose-1': 'it rejects the file (unsupported top-level key)',
    },
    server: 'the server does not read included files yet: their services would go unchecked and their changes unnoticed',
  },
  {
    name: 'top-level name',
    find: (document) => (isMapping(document) && document['name'] !== undefined ? 'top level' : undefined),
    unsupported: { 'docker-compose-1': 'it rejects the file (unsupported top-level key)' },
  },
  {
    name: 'a service on the default network beside custom networks',
    find: (document) => {
      const networks = isMapping(document) ? document['networks'] : undefined;
      if (!isMapping(networks) || Object.keys(networks).length === 0 || 'default' in networks) return undefined;
      return firstService(document, (d) => d['networks'] === undefined && d['network_mode'] === undefined);
    },
    unsupported: {
      'podman-compose-1.0':
        'it has no default network then: with several custom networks the container fails (--network-alias can only be set when the network mode is bridge), with one it joins that one instead',
    },
  },
  {
    name: 'extends of a service in the same file',
    find: (document) =>
      firstService(document, (d) => {
        const ext = d['extends'];
        return typeof ext === 'string' || (isMapping(ext) && ext['file'] === undefined);
      }),
    unsupported: {
      'podman-compose-1.0':
        "it merges into the extended service's own mappings, so that service runs with the extending one's environment and labels",
    },
  },
  {
    name: 'profiles',
    find: (document) => firstService(document, (d) => Array.isArray(d['profiles']) && d['profiles'].length > 0),
    unsupported: { 'podman-compose-1.0': 'it ignores profiles: a plain up would also start the services behind one' },
  },
];

/** A construct the tool cannot run, as the catalog reports it. */
export interface CompatProblem {
  code: 'COMPOSE_UNSUPPORTED';
  message: string;
}

/** What the adapter learned from the env files beside the compose file, for the interpolation rule below. */
export interface InterpolationFacts {
  /** Variables the compose file references. */
  referenced: readonly string[];
  /** `.env` values, parsed in the tool's dialect. */
  dotenv: Readonly<Record<string, string | undefined>>;
  /** `podman-compose.env` values, parsed in the tool's dialect. */
  podmanComposeEnv: Readonly<Record<string, string | undefined>>;
}

/**
 * The problem with running `document` with `tool`, or undefined when it runs as written.
 * `facts` adds the one interpolation case a tool cannot honour: podman-compose 1.0 loads `.env`
 * over its environment, so a variable that `podman-compose.env` sets to another value than
 * `.env` would not get the value the documented precedence gives it.
 */
export function checkCompat(document: unknown, tool: ToolIdentity, facts?: InterpolationFacts): CompatProblem | undefined {
  const generation = toolGeneration(tool);
  const found: string[] = [];
  for (const construct of CONSTRUCTS) {
    const what = construct.unsupported[generation] ?? construct.server;
    if (what === undefined) continue;
    const where = construct.find(document);
    if (where !== undefined) found.push(`${construct.name} (${where === 'top level' ? 'top level' : `service "${where}"`}): ${what}`);
  }
  if (facts && generation === 'podman-compose-1.0') {
    const clashing = facts.referenced.filter((name) => name in facts.podmanComposeEnv && name in facts.dotenv && facts.podmanComposeEnv[name] !== facts.dotenv[name]);
    if (clashing.length > 0) {
      found.push(`a variable set differently in .env and podman-compose.env (${clashing.join(', ')}): this tool would take the .env value`);
    }
  }
  if (found.length === 0) return undefined;
  return { code: 'COMPOSE_UNSUPPORTED', message: `${tool.name} ${tool.version} cannot run this compose file as written: ${found.join('; ')}` };
}
