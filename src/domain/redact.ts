/**
 * Secrets shorter than this are masked only where they stand alone as a token (`-e PIN=abc`,
 * `user abc:`), never inside a longer word: masking `abc` in `abcd` or `/srv/abc/data` would
 * garble output and reveal nothing more than the token match does.
 */
export const SHORT_SECRET_LENGTH = 4;

/** What is the mask. */
export const MASK = '***';

/** Characters that continue a word: a short secret next to one of them is part of something else. */
const WORD = '[\\p{L}\\p{N}_./\\-]';

/**
 * Every form of a secret that output can show: the value, each line of a multi-line value (tools
 * print one line at a time, containers log them apart) and its `\n`-escaped spelling (JSON, repr).
 */
function formsOf(value: string): string[] {
  const forms = [value];
  if (/[\r\n]/.test(value)) {
    forms.push(value.replace(/\r?\n/g, '\\n'));
    // A line of only punctuation (`{`, `}` of a JSON key file) reveals nothing and would mask everywhere.
    for (const line of value.split(/\r?\n/)) if (/[\p{L}\p{N}]/u.test(line)) forms.push(line, line.trim());
  }
  return forms.filter((form) => form.trim() !== '');
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replaces every occurrence of the given secret values with `***`, whatever their length: a
 * secret of any length is masked (one under SHORT_SECRET_LENGTH only as a whole token). One pass
 * over the text, longest form first, so a mask never lands inside another mask. Compose tools echo
 * env values (podman-compose prints each `podman run -e KEY=value`), and that output is stored,
 * streamed and notified. Only secrets are passed in: ordinary values stay readable.
 */
export function createRedactor(values: Iterable<string>): (text: string) => string {
  const forms = [...new Set([...values].flatMap(formsOf))].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  if (forms.length === 0) return (text) => text;
  const alternatives = forms.map((form) =>
    form.length < SHORT_SECRET_LENGTH ? `(?<!${WORD})${escapeRegExp(form)}(?!${WORD})` : escapeRegExp(form),
  );
  const pattern = new RegExp(alternatives.join('|'), 'gu');
  return (text) => text.replace(pattern, MASK);
}

/**
 * Keys whose values are secrets wherever they are written, tracked or not, whatever the value's
 * length: `DB_PASSWORD`, `API_TOKEN`, `secret_key`, `GHCR_CRED`, `AUTH_HEADER`, `PRIVATE_KEY`, ...
 * Deliberately broad: masking a `MONKEY_COUNT` costs readability of one value, missing a
 * `PASSWD` leaks it.
 */
export function isSecretKey(key: string): boolean {
  return /PASS|PWD|SECRET|TOKEN|KEY|CRED|AUTH|PRIVATE|SALT|SIGNATURE|COOKIE|DSN/i.test(key);
}

/**
 * Masks the values of secret-looking keys in lines of `KEY: value` or `KEY=value` (YAML, env
 * files): for text that quotes a file whose values are not parsed, such as a YAML parser's error
 * with the lines around the fault.
 */
export function maskSecretAssignments(text: string): string {
  return text.replace(/^(\s*(?:-\s*)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[:=][ \t]*)(\S.*)$/gm, (line, head: string, key: string) =>
    isSecretKey(key) ? `${head}${MASK}` : line,
  );
}

/**
 * Wraps an output sink so redaction sees whole lines (a secret split across two chunks would
 * otherwise slip through). `flush` passes on a last unterminated line.
 */
export function lineBufferedSink(sink: (chunk: string) => void, redact: (text: string) => string): { write: (chunk: string) => void; flush: () => void } {
  let pending = '';
  return {
    write(chunk) {
      pending += chunk;
      const end = pending.lastIndexOf('\n');
      if (end < 0) return;
      sink(redact(pending.slice(0, end + 1)));
      pending = pending.slice(end + 1);
    },
    flush() {
      if (pending) sink(redact(pending));
      pending = '';
    },
  };
}
