import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where registry credentials come from; all optional. */
export interface RegistryAuthSources {
  /** Checkout root: `secrets/ghcr.cred` (the old server's token file) and `secrets/registry-auth.json` live there. */
  envRepoPath: string;
  /** User for ghcr.io when `secrets/ghcr.cred` exists (the old server's GHCR_USER). */
  ghcrUser: string | undefined;
  /** A standard auth file (`auth.json` / Docker `config.json` format) given by the operator. */
  registryAuthFile: string | undefined;
  /** Private directory the merged file is written to. */
  stateDir: string;
  /**
   * The Docker configuration directory the tools would use otherwise (DOCKER_CONFIG, else
   * ~/.docker): its `cli-plugins` (a `docker compose` plugin installed per user) stays visible.
   */
  dockerConfigDir?: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string } & Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * Merges every configured credential into one standard auth file and returns the environment
 * that points both tool families at it (REGISTRY_AUTH_FILE for Podman, DOCKER_CONFIG for
 * Docker). Credentials travel in a 0600 file, never on a command line. Read again before each
 * pull, because a sync may have changed the secrets. Returns {} when nothing is configured, so
 * the tools keep their own defaults.
 */
export function prepareRegistryAuth(sources: RegistryAuthSources): Record<string, string> {
  const merged: AuthFile = { auths: {} };
  let found = false;
  const addFile = (file: string) => {
    if (!existsSync(file)) return;
    const parsed = parseAuthFile(file);
    Object.assign(merged, { ...parsed, auths: { ...merged.auths, ...(parsed.auths ?? {}) } });
    found = true;
  };
  if (sources.registryAuthFile) addFile(sources.registryAuthFile);
  addFile(path.join(sources.envRepoPath, 'secrets', 'registry-auth.json'));
  const ghcrToken = path.join(sources.envRepoPath, 'secrets', 'ghcr.cred');
  if (sources.ghcrUser && existsSync(ghcrToken)) {
    const token = readFileSync(ghcrToken, 'utf8').trim();
    merged.auths!['ghcr.io'] = { auth: Buffer.from(`${sources.ghcrUser}:${token}`).toString('base64') };
    found = true;
  }
  if (!found) return {};
  mkdirSync(sources.stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(sources.stateDir, 'config.json');
  writeAtomically(file, JSON.stringify(merged, null, 2));
  if (sources.dockerConfigDir) linkCliPlugins(sources.dockerConfigDir, sources.stateDir);
  return { REGISTRY_AUTH_FILE: file, DOCKER_CONFIG: sources.stateDir };
}

/**
 * DOCKER_CONFIG moves the docker CLI's per-user plugin directory too: without this link a
 * `docker compose` installed in ~/.docker/cli-plugins would vanish once credentials exist.
 */
function linkCliPlugins(fromConfigDir: string, stateDir: string): void {
  const source = path.resolve(fromConfigDir, 'cli-plugins');
  const link = path.join(stateDir, 'cli-plugins');
  if (path.resolve(fromConfigDir) === path.resolve(stateDir) || !existsSync(source)) return;
  try {
    lstatSync(link);
    return; // already there (linked by an earlier pull)
  } catch {
    symlinkSync(source, link);
  }
}

/**
 * Reads one auth file. JSON.parse's own message quotes the text around the fault, which here
 * is a credential: the error names the file and at most a position, never its content.
 */
function parseAuthFile(file: string): AuthFile {
  const text = readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const position = /at position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    throw new Error(`${file} is not valid JSON${position === undefined ? '' : ` (error at character ${position})`}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} is not a JSON object`);
  return parsed as AuthFile;
}

/**
 * Pulls running in parallel read the merged file while the next pull rewrites it: a new file
 * renamed over the old one means a reader sees the old or the new content, never a partial one.
 */
function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * The credential strings of the same sources, for redaction: each `auth` (base64), its decoded
 * `user:password` and the password, `password`/`identitytoken`/`registrytoken` fields, and the
 * ghcr token. Reads without writing and never throws: a source that cannot be read gives nothing
 * here, and the pull that needs it fails with PULL_FAILED (which never quotes a credential).
 */
export function registryCredentialValues(sources: Omit<RegistryAuthSources, 'stateDir'>): string[] {
  const values = new Set<string>();
  const addAuth = (auth: string) => {
    values.add(auth);
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return;
    values.add(decoded);
    values.add(decoded.slice(colon + 1));
  };
  const fromFile = (file: string) => {
    try {
      if (!existsSync(file)) return;
      for (const entry of Object.values(parseAuthFile(file).auths ?? {})) {
        if (typeof entry !== 'object' || entry === null) continue;
        if (typeof entry.auth === 'string' && entry.auth !== '') addAuth(entry.auth);
        for (const field of ['password', 'identitytoken', 'registrytoken']) {
          const value = entry[field];
          if (typeof value === 'string' && value !== '') values.add(value);
        }
      }
    } catch {
      // Unreadable: see above.
    }
  };
  if (sources.registryAuthFile) fromFile(sources.registryAuthFile);
  fromFile(path.join(sources.envRepoPath, 'secrets', 'registry-auth.json'));
  try {
    const token = readFileSync(path.join(sources.envRepoPath, 'secrets', 'ghcr.cred'), 'utf8').trim();
    if (token) {
      values.add(token);
      if (sources.ghcrUser) addAuth(Buffer.from(`${sources.ghcrUser}:${token}`).toString('base64'));
    }
  } catch {
    // No ghcr token.
  }
  return [...values].filter((value) => value.trim() !== '');
}
