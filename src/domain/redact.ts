/** Values shorter than this are not treated as secrets: redacting `30` or `true` would garble output. */
const MIN_SECRET_LENGTH = 6;

/**
 * Replaces every occurrence of the given secret values with `***`. Compose tools echo env values
 * (podman-compose prints each `podman run -e KEY=value`), and that output is stored and served.
 */
export function createRedactor(values: Iterable<string>): (text: string) => string {
  const secrets = [...new Set([...values].filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let result = text;
    for (const secret of secrets) result = result.split(secret).join('***');
    return result;
  };
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
