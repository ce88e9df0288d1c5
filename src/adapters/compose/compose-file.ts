import path from 'node:path';
import { extractComposeInputs, parseComposeYaml } from '../../domain/compose-inputs.js';
import { COMPOSE_GO, type DotenvDialect } from '../../domain/dotenv.js';
import { interpolate } from '../../domain/interpolate.js';
import { composeEnvironment, fromServerEnvironment, secretValues } from '../../domain/secret-values.js';
import { INTERPOLATION_ENV_FILES, inputFileKey } from '../../domain/service-layout.js';
import type { ServiceSource } from '../../domain/types.js';
import { AppError } from '../../errors.js';
import { readInputFile } from '../safe-read.js';

/** A compose service as a deployment needs to know it. */
export interface ComposeServiceModel {
  name: string;
  /** The image reference after interpolation; undefined when the service only builds. */
  image: string | undefined;
  builds: boolean;
  /** The service's mapping as written, and the env files and bind sources it reads. */
  definition: unknown;
  inputPaths: string[];
}

/** How a compose tool reads env files: each tool has its own `.env` rules (see domain/dotenv.ts). */
export interface ToolDotenv {
  /** `.env` / `podman-compose.env` beside the compose file, read for `${VAR}` interpolation. */
  interpolation: DotenvDialect;
  /** `env_file:` entries, whose values reach the container (and must be redacted as it sees them). */
  envFile: DotenvDialect;
  /** What `${VAR}` becomes for a `.env` key without `=` that the environment does not set (docker-compose 1.29: `None`). */
  unsetInterpolatesAs?: string;
}

/** Docker Compose v2's rules, for callers that do not name a tool. */
const DEFAULT_DOTENV: ToolDotenv = { interpolation: COMPOSE_GO, envFile: COMPOSE_GO };

/** What a deployment reads from a compose file. */
export interface ComposeModel {
  services: ComposeServiceModel[];
  /** The service's secret values (domain/secret-values.ts): kept out of stored output, events and notifications. */
  secretValues: string[];
  /** Top-level sections other than `services`. */
  shared: Record<string, unknown>;
  /** Interpolation variables, with the server's precedence applied (see readComposeModel). */
  variables: Record<string, string | undefined>;
  /** `.env` and `podman-compose.env` as the tool's dialect reads them (absent: empty), for the compatibility check. */
  interpolationFiles: Record<string, Record<string, string | undefined>>;
  /** The compose file parsed. */
  document: unknown;
}

/**
 * The compose services a plain `up` starts (services behind a profile are not), with their
 * image references resolved from `variables`: the server's interpolation precedence, the same
 * for every tool (`podman-compose.env` over `.env` over the server's passed environment). The
 * runtime hands `variables` to the tool in its environment, so what it interpolates is this.
 */
export async function readComposeModel(
  service: ServiceSource,
  processEnv: Record<string, string | undefined>,
  // `envFileWins` (podman-compose 1.0): the tool loads `.env` over its environment, so a `.env` key without `=` unsets the variable.
  options: { dotenv?: ToolDotenv; envFileWins?: boolean } = {},
): Promise<ComposeModel> {
  const text = await readInput(service, service.composeFile);
  if (text === undefined) throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile} does not exist`);
  const parsed = parseComposeYaml(text);
  if (!parsed.ok) throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile}: ${parsed.message.split('\n')[0]}`);
  const document = parsed.document;
  const services = (document as { services?: unknown } | null)?.services;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) {
    throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile} has no services mapping`);
  }
  const environment = Object.fromEntries(Object.entries(processEnv).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const dotenv = options.dotenv ?? DEFAULT_DOTENV;
  // What redaction needs of each env file: its values as the tool reads them, whether git tracks it, its text.
  const envFiles: Array<{ values: Record<string, string | undefined>; tracked: boolean; text: string }> = [];
  const untracked = new Set(service.untrackedInputs ?? []);
  // Absent env files are reported by the catalog's checks, not here.
  const readEnv = async (file: string, dialect: DotenvDialect) => {
    const text = (await readInput(service, file)) ?? '';
    const values = dialect.parse(text, environment);
    envFiles.push({ values, tracked: !untracked.has(inputFileKey(file)), text });
    return values;
  };
  const interpolationFiles: Record<string, Record<string, string | undefined>> = {};
  for (const file of INTERPOLATION_ENV_FILES) interpolationFiles[file] = await readEnv(file, dotenv.interpolation);
  const variables = interpolationVariables(
    environment,
    INTERPOLATION_ENV_FILES.map((file) => ({ values: interpolationFiles[file]!, bareKeysUnset: file === '.env' && options.envFileWins === true })),
    dotenv.unsetInterpolatesAs,
  );
  const inputs = extractComposeInputs(document);
  for (const entry of inputs.ok ? inputs.inputs.envFiles : []) await readEnv(entry.path, dotenv.envFile);

  const perService = new Map((inputs.ok ? inputs.inputs.services : []).map((s) => [s.name, s] as const));
  const models: ComposeServiceModel[] = [];
  for (const [name, raw] of Object.entries(services as Record<string, unknown>)) {
    const definition = (raw ?? {}) as { image?: unknown; build?: unknown; profiles?: unknown };
    if (Array.isArray(definition.profiles) && definition.profiles.length > 0) continue;
    const image = typeof definition.image === 'string' ? interpolate(definition.image, variables) : undefined;
    const reads = perService.get(name);
    models.push({
      name,
      image: image || undefined,
      builds: definition.build !== undefined,
      definition,
      inputPaths: [...(reads?.envFiles.map((e) => e.path) ?? []), ...(reads?.bindSources ?? [])],
    });
  }
  const { services: _services, ...shared } = document as Record<string, unknown>;
  const secrets = secretValues({
    envFiles,
    environment: composeEnvironment(document, variables),
    fromServer: fromServerEnvironment({ composeText: text, envFileTexts: envFiles.map((f) => f.text), environment, variables }),
  });
  return { services: models, secretValues: secrets, shared, variables, interpolationFiles, document };
}

/**
 * The interpolation precedence: each file in `files` over the ones before it, all over the
 * environment. A key written without `=` takes the value below it, else what the tool makes of
 * it (`unset`: docker-compose 1.29 says `None`), unless the file's `bareKeysUnset`.
 */
export function interpolationVariables(
  environment: Readonly<Record<string, string>>,
  files: readonly { values: Readonly<Record<string, string | undefined>>; bareKeysUnset?: boolean }[],
  unset?: string,
): Record<string, string | undefined> {
  const variables: Record<string, string | undefined> = { ...environment };
  for (const { values, bareKeysUnset } of files) {
    for (const [key, value] of Object.entries(values)) variables[key] = bareKeysUnset ? value : (value ?? variables[key] ?? unset);
  }
  return variables;
}

/** The variables to put in the tool's environment: every defined one, so the tool interpolates exactly `variables`. */
export function interpolationEnv(variables: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(variables).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * The text of a file the service reads, or undefined when it does not exist. The catalog has
 * checked every input already; this catches one that changed since, before any command runs.
 */
async function readInput(service: ServiceSource, file: string): Promise<string | undefined> {
  const read = await readInputFile(path.resolve(service.dir, file));
  if (read.kind === 'missing') return undefined;
  if (read.kind === 'invalid') throw new AppError('INPUT_FILE_INVALID', `${service.name}: ${file} ${read.reason}`, { details: { file } });
  return read.value.toString('utf8');
}
