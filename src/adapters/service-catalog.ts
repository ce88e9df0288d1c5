import { createHash } from 'node:crypto';
import { readdir, stat, type Dirent, type Stats } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { readGitopsExtension } from '../domain/compose-extension.js';
import { maskSecretAssignments } from '../domain/redact.js';
import { extractComposeInputs, parseComposeYaml, type EnvFileEntry } from '../domain/compose-inputs.js';
import { fingerprintOf } from '../domain/fingerprint.js';
import { matchesGlob } from '../domain/glob.js';
import { COMPOSE_FILE_NAMES, INTERPOLATION_ENV_FILES, composeProjectName, inputFileKey, isValidServiceName, runtimeForComposeFile } from '../domain/service-layout.js';
import { MISSING_DIGEST, type FileDigests, type RuntimeKind, type ServiceSource } from '../domain/types.js';
import { AppError } from '../errors.js';
import { Semaphore } from '../util/concurrency.js';
import { sha256hex } from '../util/digest.js';
import { DEFAULT_INPUT_FILE_LIMIT, describeKind, readInputFile, streamInputFile, type InputRead } from './safe-read.js';
import type { Repository } from '../ports/repository.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';

const DEFAULT_CONCURRENCY = 32;

/** `a/./b/../c` → `a/c`, no leading `./`, no trailing `/`: the same key however compose spells it. */
function normaliseRelative(path: string): string {
  const normal = posix.normalize(path.replace(/\\/g, '/')).replace(/\/+$/, '');
  return normal === '' ? '.' : normal;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A file the compose file names: its key in `files` and where it lives. */
interface Input {
  key: string;
  absolute: string;
}

/** The digest of an input that is not a regular file within the cap: the service is a problem anyway. */
const INVALID_DIGEST = 'invalid';

/**
 * Reads the service directories of the checkout. One `listTrackedFiles` call per discover()
 * decides which files inside a service directory count (tracked ones: data containers write
 * there must not trigger redeploys); files the compose file names count wherever they are.
 */
export function createServiceCatalog(options: {
  repoPath: string;
  servicesDirectory: string;
  defaultRuntime: RuntimeKind;
  repository: Pick<Repository, 'listTrackedFiles'>;
  concurrency?: number;
  /** Largest input file accepted, in bytes (default 64 MiB); tests lower it. */
  inputFileLimit?: number;
  /** A construct the tool that would run the service cannot run (ports/runtime.ts `compatOf`); the catalog knows no tools. */
  compat?: (service: ServiceSource) => Promise<{ code: 'COMPOSE_UNSUPPORTED'; message: string } | undefined>;
}): ServiceCatalog {
  const repoPath = resolve(options.repoPath);
  const servicesRelative = normaliseRelative(options.servicesDirectory);
  const servicesRoot = resolve(repoPath, servicesRelative);
  // Bounds concurrent file system work. Only leaf operations take a slot, so nesting cannot deadlock.
  const slots = new Semaphore(Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY));
  const limit = <T>(task: () => Promise<T>) => slots.run(task);
  // YAML parsing is the costliest step per service; a compose file with the same digest parses the same.
  const parsedByDir = new Map<string, ParsedCompose & { digest: string }>();

  const readLimit = { limit: options.inputFileLimit ?? DEFAULT_INPUT_FILE_LIMIT };

  /** sha256 of a file's bytes, following symlinks; a missing or unreadable file is MISSING_DIGEST. */
  const digestFile = (absolute: string): Promise<InputRead<string>> =>
    limit(async () => {
      try {
        const hash = createHash('sha256');
        const result = await streamInputFile(absolute, (chunk) => hash.update(chunk), readLimit);
        return result.kind === 'ok' ? { kind: 'ok', value: hash.digest('hex') } : result;
      } catch {
        return { kind: 'ok', value: MISSING_DIGEST };
      }
    });

  /** What a mounted path is (symlinks followed), or undefined when it does not exist. */
  const statPath = (absolute: string): Promise<Stats | undefined> =>
    limit(() => new Promise((done) => stat(absolute, (error, info: Stats) => done(error ? undefined : info))));

  /** Tracked files per service directory name, relative to that directory. */
  async function trackedByService(prefix: string): Promise<Map<string, string[]>> {
    const byService = new Map<string, string[]>();
    const base = servicesRelative === '.' ? '' : `${servicesRelative}/`;
    for (const file of await options.repository.listTrackedFiles(prefix)) {
      if (!file.startsWith(base)) continue;
      const inside = file.slice(base.length);
      const slash = inside.indexOf('/');
      if (slash <= 0) continue;
      const name = inside.slice(0, slash);
      let list = byService.get(name);
      if (!list) byService.set(name, (list = []));
      list.push(inside.slice(slash + 1));
    }
    return byService;
  }

  /** Key for a path the compose file names: relative to the service directory, or absolute when written absolute. */
  function inputFor(dir: string, written: string): Input {
    const key = inputFileKey(written);
    return { key, absolute: isAbsolute(written) ? resolve(written) : resolve(dir, key) };
  }

  /**
   * Keys of `files` git does not track. Inside the service directory the listing says; for a file
   * elsewhere in the checkout (`../../secrets/app.env`) one listing of the whole checkout is taken,
   * at most once per discovery and only when such a file exists; one outside the checkout is never
   * tracked. A failing listing counts every such file as untracked (masked).
   */
  async function untrackedOf(dir: string, keys: string[], tracked: ReadonlySet<string>, outside: CheckoutListing): Promise<string[]> {
    const answers = await Promise.all(keys.map((key) => isTrackedKey(dir, key, tracked, outside)));
    return keys.filter((_, index) => !answers[index]).sort();
  }

  /** Whether git tracks one input (its key as in `files`); see untrackedOf. */
  function isTrackedKey(dir: string, key: string, tracked: ReadonlySet<string>, outside: CheckoutListing): Promise<boolean> {
    if (!key.startsWith('../') && key !== '..' && !isAbsolute(key)) return Promise.resolve(tracked.has(key));
    const inRepo = relative(repoPath, resolve(dir, key)).split(sep).join('/');
    if (inRepo.startsWith('../') || inRepo === '..' || isAbsolute(inRepo)) return Promise.resolve(false);
    outside.files ??= options.repository.listTrackedFiles('.').then((list) => new Set(list), () => new Set<string>());
    return outside.files.then((files) => files.has(inRepo));
  }

  async function describe(name: string, tracked: readonly string[], outside: CheckoutListing = {}): Promise<ServiceSource | undefined> {
    const dir = join(servicesRoot, name);
    let entries: Dirent[];
    try {
      entries = await limit(() => listDirectory(dir));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const present = new Set(entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name));
    const composeFiles = COMPOSE_FILE_NAMES.filter((file) => present.has(file));
    const composeFile = composeFiles[0];
    if (composeFile === undefined) return undefined;

    let problem: ServiceSource['problem'];
    // Inputs that are not regular files within the cap: "key is a FIFO", one entry each.
    const invalid: string[] = [];
    if (composeFiles.length > 1) {
      problem = {
        code: 'COMPOSE_FILE_AMBIGUOUS',
        message: `${name} holds ${composeFiles.join(', ')}; keep exactly one compose file`,
      };
    }

    const inputs = new Map<string, Input>();
    const add = (input: Input) => inputs.set(input.key, input);
    add({ key: composeFile, absolute: join(dir, composeFile) });
    for (const file of tracked) add({ key: file, absolute: join(dir, ...file.split('/')) });
    for (const file of INTERPOLATION_ENV_FILES) if (present.has(file)) add({ key: file, absolute: join(dir, file) });

    const requiredEnvFiles = new Set<string>();
    // Env files are configuration whatever x-gitops.ignore says; a required one must still be checked.
    const envFileKeys = new Set<string>(INTERPOLATION_ENV_FILES.filter((file) => present.has(file)));
    // Inputs left out of the fingerprint: files containers write (read-write bind mounts of untracked files) and x-gitops.ignore.
    const excluded = new Map<string, Input>();
    const trackedSet = new Set(tracked);
    const isTracked = (input: Input) => isTrackedKey(dir, input.key, trackedSet, outside);
    const composeRead = await limit(() => readInputFile(join(dir, composeFile), readLimit));
    if (composeRead.kind === 'missing') return undefined; // removed while we looked: not a service any more
    let composeDigest = INVALID_DIGEST;
    let parsed: (ParsedCompose & { digest: string }) | undefined;
    if (composeRead.kind === 'invalid') {
      invalid.push(`${composeFile} ${composeRead.reason}`);
    } else {
      composeDigest = createHash('sha256').update(composeRead.value).digest('hex');
      parsed = parsedByDir.get(dir);
      if (parsed?.digest !== composeDigest) {
        parsed = { digest: composeDigest, ...parseCompose(composeRead.value.toString('utf8')) };
        parsedByDir.set(dir, parsed);
      }
    }
    if (parsed === undefined) {
      // The compose file itself cannot be read: nothing more to learn from it.
    } else if (!parsed.ok) {
      // The YAML parser quotes the lines around the fault: a secret written inline must not reach the record.
      problem ??= { code: 'COMPOSE_FILE_INVALID', message: `${name}/${composeFile}: ${maskSecretAssignments(parsed.message)}` };
    } else {
      for (const entry of parsed.envFiles) {
        const input = inputFor(dir, entry.path);
        add(input);
        envFileKeys.add(input.key);
        if (entry.required) requiredEnvFiles.add(input.key);
      }
      // Bind sources count only when they are files: a mounted directory is covered by its tracked
      // files, and a mounted socket or device (`/var/run/docker.sock`, `/dev/dri`) is no input at all.
      // configs/secrets files and `extends.file` must be regular files.
      const fileOnly = new Set(parsed.fileOnlyPaths.map((path) => inputFor(dir, path).key));
      const writable = new Set(parsed.writableMountPaths.map((path) => inputFor(dir, path).key));
      const mounted = parsed.mountedPaths.map((path) => inputFor(dir, path)).filter((input) => !inputs.has(input.key));
      const kinds = await Promise.all(mounted.map((input) => statPath(input.absolute)));
      const data = await Promise.all(mounted.map(async (input) => writable.has(input.key) && !(await isTracked(input))));
      mounted.forEach((input, index) => {
        const info = kinds[index];
        // A file the container may write and git does not hold is the container's data, not configuration.
        if (info?.isFile() && data[index]) excluded.set(input.key, input);
        else if (info?.isFile()) add(input);
        else if (info && fileOnly.has(input.key)) invalid.push(`${input.key} ${describeKind(info)}`);
      });
      for (const [key, input] of inputs) {
        if (key === composeFile || envFileKeys.has(key)) continue;
        if (parsed.ignore.some((glob) => matchesGlob(key, glob))) {
          inputs.delete(key);
          excluded.set(key, input);
        }
      }
    }

    const files: FileDigests = {};
    const keys = [...inputs.keys()];
    const digests = await Promise.all(keys.map((key) => (key === composeFile ? Promise.resolve({ kind: 'ok', value: composeDigest } as const) : digestFile(inputs.get(key)!.absolute))));
    keys.forEach((key, index) => {
      const digest = digests[index]!;
      if (digest.kind === 'ok') files[key] = digest.value;
      else if (digest.kind === 'missing') files[key] = MISSING_DIGEST;
      else {
        files[key] = INVALID_DIGEST;
        if (key !== composeFile) invalid.push(`${key} ${digest.reason}`);
      }
    });
    // Data files left out of `files` are untracked too (redaction masks what they hold).
    const untrackedInputs = await untrackedOf(dir, [...new Set([...keys, ...excluded.keys()])], trackedSet, outside);
    if (invalid.length > 0) {
      // Takes precedence: a service with an unreadable input must not be deployed as if it were fine.
      problem = { code: 'INPUT_FILE_INVALID', message: `${name}: ${invalid.sort().join('; ')}` };
    }

    const source: ServiceSource = {
      name,
      dir,
      composeFile,
      runtime: (parsed?.ok ? parsed.runtime : undefined) ?? runtimeForComposeFile(composeFile, options.defaultRuntime),
      projectName: composeProjectName(name, sha256hex),
      files,
      fingerprint: fingerprintOf(files, sha256hex),
      requiredEnvFiles: [...requiredEnvFiles].sort(),
      untrackedInputs,
      ...(parsed?.ok && parsed.pollImages ? { pollImages: true as const } : {}),
      ...(parsed?.ok && !parsed.rollback ? { noRollback: true as const } : {}),
      ...(problem ? { problem } : {}),
    };
    if (!problem && options.compat) {
      // An input that vanished or turned unreadable meanwhile is the deployment's to report.
      const unsupported = await options.compat(source).catch(() => undefined);
      if (unsupported) source.problem = { code: unsupported.code, message: unsupported.message.startsWith(`${name}: `) ? unsupported.message : `${name}: ${unsupported.message}` };
    }
    return source;
  }

  /** The directory of a service name, or undefined for a name that is not a plain directory name. */
  function serviceDir(name: string): string | undefined {
    if (!isValidServiceName(name)) return undefined;
    const dir = join(servicesRoot, name);
    // Refuse anything that would leave the services directory, whatever the caller checked.
    return relative(servicesRoot, dir).split(sep)[0] === '..' ? undefined : dir;
  }

  return {
    async has(name) {
      const dir = serviceDir(name);
      if (dir === undefined) return false;
      try {
        const entries = await listDirectory(dir);
        return entries.some((entry) => !entry.isDirectory() && (COMPOSE_FILE_NAMES as readonly string[]).includes(entry.name));
      } catch {
        return false;
      }
    },

    async discover() {
      // One git call for every service, running while the directories are read.
      const trackedPromise = trackedByService(servicesRelative);
      trackedPromise.catch(() => undefined);
      let entries: Dirent[];
      try {
        entries = await listDirectory(servicesRoot);
      } catch (error) {
        // An empty list would read as "every service was removed": fail instead.
        throw new AppError('REPOSITORY_INVALID', `The services directory ${servicesRelative} cannot be read: ${(error as Error).message}`, {
          details: { servicesDirectory: servicesRelative },
          cause: error,
        });
      }
      const names = entries.filter((entry) => entry.isDirectory() && isValidServiceName(entry.name)).map((entry) => entry.name);
      const tracked = await trackedPromise;
      const outside: CheckoutListing = {};
      const services = await Promise.all(names.map((name) => describe(name, tracked.get(name) ?? [], outside)));
      return services.filter((service): service is ServiceSource => service !== undefined).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async find(name) {
      const dir = serviceDir(name);
      if (dir === undefined) return undefined;
      const prefix = servicesRelative === '.' ? name : `${servicesRelative}/${name}`;
      const tracked = await trackedByService(prefix);
      return describe(name, tracked.get(name) ?? []);
    },
  };
}

function listDirectory(path: string): Promise<Dirent[]> {
  return new Promise((done, fail) => readdir(path, { withFileTypes: true }, (error, entries) => (error ? fail(error) : done(entries))));
}

/** The checkout's tracked files, listed lazily once per discovery (see untrackedOf). */
interface CheckoutListing {
  files?: Promise<Set<string>>;
}

type ParsedCompose =
  | { ok: true; envFiles: EnvFileEntry[]; mountedPaths: string[]; fileOnlyPaths: string[]; writableMountPaths: string[]; pollImages: boolean; rollback: boolean; ignore: string[]; runtime?: RuntimeKind }
  | { ok: false; message: string };

/** YAML → the compose inputs. */
function parseCompose(text: string): ParsedCompose {
  const parsed = parseComposeYaml(text);
  if (!parsed.ok) return parsed;
  const result = extractComposeInputs(parsed.document);
  if (!result.ok) return result;
  const extension = readGitopsExtension(parsed.document);
  if (!extension.ok) return extension;
  const { envFiles, mountedPaths, fileOnlyPaths, writableMountPaths } = result.inputs;
  const { pollImages, rollback, ignore, runtime } = extension.extension;
  return { ok: true, envFiles, mountedPaths, fileOnlyPaths, writableMountPaths, pollImages, rollback, ignore, ...(runtime ? { runtime } : {}) };
}
