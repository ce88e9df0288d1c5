import { parseDocument } from 'yaml';
import { inputFileKey } from './service-layout.js';

/**
 * The files a compose document makes compose read, besides itself: env files and bind-mounted
 * files. Pure: takes the document yaml parsed, so the catalog can fingerprint what really runs.
 */

/** One `env_file:` entry. Compose fails when a required one is missing and skips an optional one. */
export interface EnvFileEntry {
  path: string;
  required: boolean;
}

/** What one compose service reads from the host. Paths are as written (relative to the compose file's directory, or absolute). */
export interface ComposeServiceInputs {
  name: string;
  image: string | undefined;
  envFiles: EnvFileEntry[];
  /** Host sides of bind mounts (`./x`, `../x`, `/abs`); may be files or directories. */
  bindSources: string[];
  /** The same bind mounts with their mode: whether the container may write through them. */
  bindMounts: BindMount[];
}

/** One bind mount's host side and mode (`:ro` / `read_only: true` make it read-only). */
export interface BindMount {
  source: string;
  readOnly: boolean;
}

export interface ComposeInputs {
  /** Compose services in document order. */
  services: ComposeServiceInputs[];
  /** Every env file of every service, one entry per path; required when any service requires it. */
  envFiles: EnvFileEntry[];
  /** Every bind source, plus files named by top-level `configs`/`secrets` and `extends.file`, deduplicated. */
  mountedPaths: string[];
  /** The part of `mountedPaths` that must be regular files (configs/secrets `file:`, `extends.file`); bind sources may be directories, sockets or devices. */
  fileOnlyPaths: string[];
  /**
   * Bind sources every mount of which is read-write (none `:ro`), and that are not configs/secrets
   * or `extends` files: what a container may write into (an `acme.json`, an SQLite file).
   */
  writableMountPaths: string[];
}

/** A compose file's text read as YAML the way compose reads it (merge keys `<<` on). */
export function parseComposeYaml(text: string): { ok: true; document: unknown } | { ok: false; message: string } {
  try {
    const parsed = parseDocument(text, { merge: true, prettyErrors: true });
    const firstError = parsed.errors[0];
    return firstError ? { ok: false, message: firstError.message } : { ok: true, document: parsed.toJS() };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

export type ComposeInputsResult = { ok: true; inputs: ComposeInputs } | { ok: false; message: string };

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Interpolated values depend on the environment at deploy time; they cannot be resolved here. */
function isLiteral(path: string): boolean {
  return path !== '' && !path.includes('$');
}

/** Host paths as opposed to named volumes: compose treats `.`, `/` and `~` prefixes as paths; `~` depends on the server's home, so it is left out. */
function isHostPath(source: string): boolean {
  return source.startsWith('.') || source.startsWith('/');
}

class ShapeError extends Error {}

function envFilesOf(service: string, value: unknown): EnvFileEntry[] {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items)) throw new ShapeError(`service "${service}": env_file must be a string or a list`);
  return items.map((item, index): EnvFileEntry => {
    if (typeof item === 'string') return { path: item, required: true };
    if (isMapping(item) && typeof item['path'] === 'string') {
      const required = item['required'];
      if (required !== undefined && typeof required !== 'boolean') {
        throw new ShapeError(`service "${service}": env_file[${index}].required must be true or false`);
      }
      return { path: item['path'], required: required ?? true };
    }
    throw new ShapeError(`service "${service}": env_file[${index}] must be a path or a mapping with a "path"`);
  });
}

/** Short-syntax mount options (`src:dst:ro,z`): read-only when one of them is `ro`. */
function shortSyntaxReadOnly(item: string, sourceEnd: number): boolean {
  const rest = item.slice(sourceEnd + 1);
  const colon = rest.indexOf(':');
  if (colon < 0) return false;
  return rest.slice(colon + 1).split(',').some((option) => option.trim() === 'ro');
}

function bindMountsOf(service: string, value: unknown): BindMount[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ShapeError(`service "${service}": volumes must be a list`);
  const mounts: BindMount[] = [];
  value.forEach((item, index) => {
    if (typeof item === 'string') {
      // `src:dst[:mode]`; a single part is an anonymous volume with no host side.
      const colon = item.indexOf(':');
      if (colon > 0) mounts.push({ source: item.slice(0, colon), readOnly: shortSyntaxReadOnly(item, colon) });
    } else if (isMapping(item)) {
      if (item['type'] === 'bind' && typeof item['source'] === 'string') {
        const readOnly = item['read_only'] === true || item['read_only'] === 'true';
        mounts.push({ source: item['source'], readOnly });
      }
    } else {
      throw new ShapeError(`service "${service}": volumes[${index}] must be a string or a mapping`);
    }
  });
  return mounts.filter((mount) => isLiteral(mount.source) && isHostPath(mount.source));
}

/** Files named by top-level `configs:` and `secrets:` (`file:` entries), which compose bind-mounts. */
function definitionFilesOf(document: Mapping): string[] {
  const files: string[] = [];
  for (const key of ['configs', 'secrets']) {
    const section = document[key];
    if (!isMapping(section)) continue;
    for (const definition of Object.values(section)) {
      if (isMapping(definition) && typeof definition['file'] === 'string') files.push(definition['file']);
    }
  }
  return files;
}

/** Extracts every compose service's env files, bind sources and image; a bad shape is a result, not an exception. */
export function extractComposeInputs(document: unknown): ComposeInputsResult {
  if (document === null || document === undefined) return { ok: false, message: 'the compose file is empty' };
  if (!isMapping(document)) return { ok: false, message: 'the compose file must be a mapping at the top level' };
  const servicesValue = document['services'];
  if (servicesValue === undefined || servicesValue === null) return { ok: false, message: 'the compose file has no "services" section' };
  if (!isMapping(servicesValue)) return { ok: false, message: '"services" must be a mapping of service names to definitions' };

  const services: ComposeServiceInputs[] = [];
  const extendsFiles: string[] = [];
  try {
    for (const [name, definition] of Object.entries(servicesValue)) {
      if (!isMapping(definition)) throw new ShapeError(`service "${name}" must be a mapping`);
      const image = definition['image'];
      const extendsValue = definition['extends'];
      if (isMapping(extendsValue) && typeof extendsValue['file'] === 'string') extendsFiles.push(extendsValue['file']);
      const bindMounts = bindMountsOf(name, definition['volumes']);
      services.push({
        name,
        image: typeof image === 'string' ? image : undefined,
        envFiles: envFilesOf(name, definition['env_file']).filter((entry) => isLiteral(entry.path)),
        bindSources: bindMounts.map((mount) => mount.source),
        bindMounts,
      });
    }
  } catch (error) {
    if (error instanceof ShapeError) return { ok: false, message: error.message };
    throw error;
  }

  const envFiles = new Map<string, boolean>();
  for (const entry of services.flatMap((service) => service.envFiles)) {
    envFiles.set(entry.path, (envFiles.get(entry.path) ?? false) || entry.required);
  }
  const mounted = [...services.flatMap((service) => service.bindSources), ...definitionFilesOf(document), ...extendsFiles];
  const fileOnly = [...definitionFilesOf(document), ...extendsFiles].filter(isLiteral);
  // A path is writable only when no mount of it is read-only and compose reads it for nothing else.
  const readOnly = new Set([...services.flatMap((service) => service.bindMounts.filter((m) => m.readOnly).map((m) => m.source)), ...fileOnly].map(inputFileKey));
  const writable = services.flatMap((service) => service.bindMounts.filter((m) => !m.readOnly && !readOnly.has(inputFileKey(m.source))).map((m) => m.source));
  return {
    ok: true,
    inputs: {
      services,
      envFiles: [...envFiles].map(([path, required]) => ({ path, required })),
      mountedPaths: [...new Set(mounted.filter(isLiteral))],
      fileOnlyPaths: [...new Set(fileOnly)],
      writableMountPaths: [...new Set(writable)],
    },
  };
}
