/**
 * A small glob matcher for `x-gitops: { ignore: [...] }`, over forward-slash paths relative to
 * the service directory. Pure, and the same on every Node version (`path.matchesGlob` is
 * experimental on Node 20 and absent before 20.17).
 *
 *   *       any characters except `/`
 *   ?       one character except `/`
 *   **      as a whole segment: any number of segments (`data/**` = everything under data/)
 *   [abc]   one of the characters; `[!abc]` none of them; ranges `[a-z]`
 *
 * Anything else matches itself. A pattern without a `/` matches the file name at any depth
 * (`*.db` matches `db/app.db`), as in `.gitignore`.
 */
export function matchesGlob(path: string, pattern: string): boolean {
  const normal = pattern.replace(/^\.\//, '');
  const full = normal.includes('/') ? normal : `**/${normal}`;
  return globToRegExp(full).test(path);
}

/** Whether a glob is one this matcher reads (no empty pattern, classes closed). */
export function globProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return 'is empty';
  const open = pattern.lastIndexOf('[');
  if (open >= 0 && pattern.indexOf(']', open + 1) < 0) return 'has an unclosed [';
  return undefined;
}

const cache = new Map<string, RegExp>();

function globToRegExp(pattern: string): RegExp {
  const known = cache.get(pattern);
  if (known) return known;
  let source = '';
  const segments = pattern.split('/');
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      // Zero or more whole segments, with their slashes.
      source += last ? '.*' : '(?:[^/]*/)*';
      return;
    }
    source += segmentSource(segment) + (last ? '' : '/');
  });
  const regexp = new RegExp(`^${source}$`);
  cache.set(pattern, regexp);
  return regexp;
}

function segmentSource(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return out;
}
