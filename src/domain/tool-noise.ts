/**
 * Known-noise lines of the compose tools: lines that look like failures in the output of a
 * deployment that succeeded. They are folded into one line per kind that says how many there
 * were and for which containers, so nothing is lost but a successful deployment reads as one.
 * Only lines the server's own way of driving the tool makes expected are listed; a real error
 * still fails the deployment through the engine state check, whatever its output said.
 */

export interface NoiseRule {
  /** What the folded line calls them: `"already in use" lines for kept containers`. */
  label: string;
  /** Who printed them, for the folded line: `podman-compose 1.3.0`. */
  tool?: string;
  /** One noise line; group 1 is the container's name. */
  line: RegExp;
  /** A line right after a noise line that belongs to it (podman-compose 1.0.3's `exit code: 125`). */
  follower?: RegExp;
}

/**
 * podman-compose runs `podman run --name X` for every service on `up`, also for containers the
 * server kept because their configuration did not change: podman refuses the name (exit code
 * 125) and the tool goes on with `podman start X`. Seen with 1.0.3 and 1.3.0 on Podman 4.3.
 */
const ALREADY_IN_USE: NoiseRule = {
  label: '"already in use" lines for kept containers',
  line: /^Error: creating container storage: the container name "([^"]+)" is already in use by [0-9a-f]+\..*that name is already in use$/,
  follower: /^exit code: 125$/,
};

/**
 * podman-compose 1.3 starts `up` with `down` of the services it is told to create, when any
 * container of the project has an older config hash: the server removed those containers
 * already, so podman's `stop` and `rm` find nothing.
 */
const NO_SUCH_CONTAINER: NoiseRule = {
  label: '"no such container" lines for containers the server had already removed',
  line: /^Error: no container with name or ID "([^"]+)" found: no such container$/,
  follower: /^exit code: 125$/,
};

/** The noise rules of a tool (Docker Compose's output of a successful `up` has none we know of). */
export function noiseRulesFor(tool: { name: string; version: string }): NoiseRule[] {
  return tool.name === 'podman-compose' ? [ALREADY_IN_USE, NO_SUCH_CONTAINER].map((rule) => ({ ...rule, tool: `${tool.name} ${tool.version}` })) : [];
}

export interface NoiseFolder {
  /** Takes a chunk of output; returns the complete lines to show now (noise removed). */
  write(chunk: string): string;
  /** The unfinished last line and one summary line per kind of noise seen. */
  end(): string;
}

/** A line-buffering filter over a tool's streamed output (chunks split lines anywhere). */
export function createNoiseFolder(rules: readonly NoiseRule[]): NoiseFolder {
  let pending = '';
  let follower: RegExp | undefined;
  const folded = new Map<NoiseRule, { lines: number; names: string[] }>();
  const keep = (line: string): boolean => {
    const bare = line.replace(/\r$/, '');
    if (follower?.test(bare)) {
      follower = undefined;
      return false;
    }
    follower = undefined;
    for (const rule of rules) {
      const m = rule.line.exec(bare);
      if (!m) continue;
      const seen = folded.get(rule) ?? { lines: 0, names: [] };
      seen.lines++;
      if (!seen.names.includes(m[1] ?? '')) seen.names.push(m[1] ?? '');
      folded.set(rule, seen);
      follower = rule.follower;
      return false;
    }
    return true;
  };
  const filter = (lines: string[]) => lines.filter(keep).map((l) => `${l}\n`).join('');
  return {
    write(chunk) {
      if (rules.length === 0) return chunk;
      pending += chunk;
      const end = pending.lastIndexOf('\n');
      if (end < 0) return '';
      const lines = pending.slice(0, end).split('\n');
      pending = pending.slice(end + 1);
      return filter(lines);
    },
    end() {
      const rest = pending && keep(pending) ? pending + (pending.endsWith('\n') ? '' : '\n') : '';
      pending = '';
      const summaries = [...folded].map(([rule, seen]) => `(${rule.tool ? `${rule.tool}: ` : ''}${seen.lines} ${rule.label} folded: ${seen.names.join(', ')})\n`);
      folded.clear();
      return rest + summaries.join('');
    },
  };
}
