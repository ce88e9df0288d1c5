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
  /** A line that belongs to a noise line (podman-compose 1.0.3's `exit code: 125`): right after it, or after `command`. */
  follower?: RegExp;
  /** The tool's print of the command whose failure the noise line is; group 1 is the container's name. */
  command?: RegExp;
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
  command: /^podman (?:run|create) --name=(\S+) /,
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

/**
 * A line-buffering filter over a tool's streamed output (chunks split lines anywhere). The
 * follower of a noise line is matched by order or by container name: podman-compose 1.0.3's own
 * prints (`podman run --name=X`, `exit code: 125`) are buffered by Python while podman's error
 * goes straight to the pipe, so the error may arrive before, between or after them.
 */
export function createNoiseFolder(rules: readonly NoiseRule[]): NoiseFolder {
  let pending = '';
  const folded = new Map<NoiseRule, { lines: number; names: string[] }>();
  const noisy = new Set<string>();
  let afterNoise = false;
  let lastCommand: string | undefined;
  let held: { line: string; name: string } | undefined;

  const noiseOf = (line: string) => {
    for (const rule of rules) {
      const m = rule.line.exec(line);
      if (m) return { rule, name: m[1] ?? '' };
    }
    return undefined;
  };
  const isFollower = (line: string) => rules.some((r) => r.follower?.test(line));
  const commandOf = (line: string) => rules.map((r) => r.command?.exec(line)?.[1]).find((name) => name !== undefined);

  /** The lines to show for one line of output (possibly a held one before it). */
  const take = (raw: string): string[] => {
    const line = raw.replace(/\r$/, '');
    const out: string[] = [];
    const noise = noiseOf(line);
    if (held) {
      if (noise?.name !== held.name) out.push(held.line);
      held = undefined;
    }
    if (noise) {
      const seen = folded.get(noise.rule) ?? { lines: 0, names: [] };
      seen.lines++;
      if (!seen.names.includes(noise.name)) seen.names.push(noise.name);
      folded.set(noise.rule, seen);
      noisy.add(noise.name);
      afterNoise = true;
      return out;
    }
    if (isFollower(line)) {
      const command = lastCommand;
      lastCommand = undefined;
      if (afterNoise || (command !== undefined && noisy.has(command))) {
        afterNoise = false;
        return out;
      }
      // Its error may still come: hold the line until the next one says.
      if (command !== undefined) held = { line: raw, name: command };
      else out.push(raw);
      return out;
    }
    afterNoise = false;
    lastCommand = commandOf(line);
    out.push(raw);
    return out;
  };
  const lines = (list: string[]) => list.flatMap(take).map((l) => `${l}\n`).join('');

  return {
    write(chunk) {
      if (rules.length === 0) return chunk;
      pending += chunk;
      const end = pending.lastIndexOf('\n');
      if (end < 0) return '';
      const complete = pending.slice(0, end).split('\n');
      pending = pending.slice(end + 1);
      return lines(complete);
    },
    end() {
      const last = pending;
      pending = '';
      let rest = last ? lines([last]) : '';
      if (held) rest += `${held.line}\n`;
      held = undefined;
      const summaries = [...folded].map(([rule, seen]) => `(${rule.tool ? `${rule.tool}: ` : ''}${seen.lines} ${rule.label} folded: ${seen.names.join(', ')})\n`);
      folded.clear();
      return rest + summaries.join('');
    },
  };
}

/** A whole output without its noise lines and without the summary (for picking the telling error line). */
export function withoutNoise(text: string, rules: readonly NoiseRule[]): string {
  if (rules.length === 0) return text;
  const folder = createNoiseFolder(rules);
  const kept = folder.write(text.endsWith('\n') ? text : `${text}\n`);
  folder.end();
  return kept;
}
