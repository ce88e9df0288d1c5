import { interpolate } from './interpolate.js';

/**
 * `.env` files parsed the way each compose tool parses them. There is no one `.env` format:
 * `IMAGE=x:1 # pinned` is `x:1` for python-dotenv and compose-go but `x:1 # pinned` for
 * `podman --env-file`, and the image the server expects, the configuration hash and the
 * redacted values must be what the tool really uses. Rules were read from the sources of
 * the tools (see the README's "How .env files are read"). Pure: the environment is passed in.
 *
 * A value is undefined for a key the tool knows but leaves unset (python-dotenv's `KEY`
 * without `=`): for podman-compose 1.0.3 that still hides the process environment's value.
 */
export interface DotenvDialect {
  /** For messages: `python-dotenv 0.21`, `compose-go`, `podman --env-file`. */
  name: string;
  /**
   * The variables of one file. `environment` is the tool's process environment, which some
   * dialects consult for `${VAR}` inside values and for a bare `KEY` line. A syntax error the
   * tool would fail on ends the file: the values before it are returned (the tool's own run
   * then fails and says why).
   */
  parse(text: string, environment: Readonly<Record<string, string | undefined>>): Record<string, string | undefined>;
}

class SyntaxStop extends Error {}

/** An own value of a variable map (never `toString` and friends from the prototype). */
function lookup(values: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  return Object.hasOwn(values, name) ? values[name] : undefined;
}

// ---------------------------------------------------------------------------------------------
// python-dotenv 0.21 (docker-compose 1.29 for `.env` and `env_file`, podman-compose 1.0.3 for `.env`)

/** Python's `\s` (str.isspace): unlike JavaScript's, it has \x1c-\x1f and \x85 but not the BOM. */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `[^\S\r\n]`: whitespace within a line. */
const PY_LINE_SPACE = '\\t\\v\\f\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const py = (pattern: string, flags = 'y') => new RegExp(pattern.replaceAll('\\s', `[${PY_SPACE}]`).replaceAll('\\h', `[${PY_LINE_SPACE}]`).replaceAll('\\S', `[^${PY_SPACE}]`), flags);
const PY = {
  space: py('\\s*'),
  export: py('(?:export\\h+)?'),
  quotedKey: py("'([^']+)'"),
  key: py(`[^=#${PY_SPACE}]+`),
  lineSpace: py('\\h*'),
  equals: py('=\\h*'),
  comment: py('(?:\\h*#[^\\r\\n]*)?'),
  endOfLine: py('\\h*(?:\\n|$)'),
  restOfLine: py('[^\\r\\n]*\\n?'),
  inlineComment: py('\\s+#.*', ''),
  trailingSpace: py('\\s+$', ''),
};

const PY_ESCAPES_DOUBLE: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * A port of python-dotenv 0.21's `parser.py` + `resolve_variables`: the text is read with
 * universal newlines; unquoted values lose a `#` comment only after whitespace; quoted values
 * may span lines; `${VAR}` / `${VAR:-default}` (never `$VAR`) expand from earlier keys, which
 * beat the environment, in every kind of value, single-quoted ones included.
 */
function pythonDotenv(options: { stripBom: boolean; name: string }): DotenvDialect {
  return {
    name: options.name,
    parse(raw, environment) {
      let text = options.stripBom && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
      text = text.replace(/\r\n?/g, '\n');
      let pos = 0;
      const take = (pattern: RegExp): RegExpExecArray => {
        pattern.lastIndex = pos;
        const match = pattern.exec(text);
        if (!match) throw new SyntaxStop();
        pos += match[0].length;
        return match;
      };
      const value = (): string => {
        const char = text[pos];
        if (char === "'") return take(/'((?:\\'|[^'])*)'/y)[1]!.replace(/\\[\\']/g, (m) => m[1]!);
        if (char === '"') return take(/"((?:\\"|[^"])*)"/y)[1]!.replace(/\\[\\'"abfnrtv]/g, (m) => PY_ESCAPES_DOUBLE[m[1]!]!);
        if (char === undefined || char === '\n') return '';
        return take(/[^\r\n]*/y)[0].replace(PY.inlineComment, '').replace(PY.trailingSpace, '');
      };
      const bindings: Array<[string, string | undefined]> = [];
      while (pos < text.length) {
        try {
          take(PY.space);
          if (pos >= text.length) break;
          take(PY.export);
          const key = text[pos] === '#' ? undefined : text[pos] === "'" ? take(PY.quotedKey)[1] : take(PY.key)[0];
          take(PY.lineSpace);
          let found: string | undefined;
          if (text[pos] === '=') {
            take(PY.equals);
            found = value();
          }
          take(PY.comment);
          take(PY.endOfLine);
          if (key !== undefined) bindings.push([key, found]);
        } catch (error) {
          if (!(error instanceof SyntaxStop)) throw error;
          take(PY.restOfLine); // python-dotenv skips the rest of a bad line and goes on
        }
      }
      const result: Record<string, string | undefined> = {};
      for (const [key, found] of bindings) {
        result[key] =
          found === undefined
            ? undefined
            : found.replace(/\$\{([^}:]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => {
                const resolved = Object.hasOwn(result, name) ? result[name] : lookup(environment, name) ?? fallback;
                return resolved ?? '';
              });
      }
      return result;
    },
  };
}

/** docker-compose 1.29 reads `.env` and `env_file` with python-dotenv, as UTF-8 with an optional BOM. */
export const PYTHON_DOTENV_BOM: DotenvDialect = pythonDotenv({ stripBom: true, name: 'python-dotenv 0.21 (utf-8-sig)' });
/** podman-compose 1.0.3 reads `.env` with python-dotenv as plain UTF-8: a BOM stays part of the first key. */
export const PYTHON_DOTENV: DotenvDialect = pythonDotenv({ stripBom: false, name: 'python-dotenv 0.21' });

// ---------------------------------------------------------------------------------------------
// compose-go (Docker Compose v2 for `.env` and `env_file`)

/** Go's unicode.IsSpace, and compose-go's isSpace (the same without line feeds). */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/;
const isGoSpace = (char: string) => GO_SPACE.test(char);
const isLineSpace = (char: string) => /[\t\v\f\r \u0085\u00A0]/.test(char);
const trimStartWith = (text: string, test: (char: string) => boolean) => {
  let i = 0;
  while (i < text.length && test(text[i]!)) i++;
  return text.slice(i);
};
const trimEndWith = (text: string, test: (char: string) => boolean) => {
  let i = text.length;
  while (i > 0 && test(text[i - 1]!)) i--;
  return text.slice(0, i);
};

const GO_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\', $: '$$' };

/** compose-go's expandEscapes: Go escapes in double quotes; `\$` is a literal dollar; `\0ddd` octal. */
function goEscapes(value: string): string {
  return value.replace(/\\(?:[abcfnrtv$"\\]|0\d{0,3})/g, (match) => {
    const char = match[1]!;
    if (char !== '0') return GO_ESCAPES[char] ?? match; // `\c` is no Go escape: kept as written
    const digits = match.slice(2);
    // `\0123` is Go's `\123`: exactly three octal digits, at most 255; anything else is kept.
    return /^[0-7]{3}$/.test(digits) && parseInt(digits, 8) <= 255 ? String.fromCharCode(parseInt(digits, 8)) : match;
  });
}

/**
 * A port of compose-go's `dotenv/parser.go`: `#` starts a comment only at the start of a
 * statement or after a space (` #`) in an unquoted value; `KEY: value` works too; quoted
 * values may span lines; `\` escapes the closing quote in both kinds of quotes, and double
 * quotes also take Go escapes; unquoted and double-quoted values interpolate (`$VAR`,
 * `${VAR:-x}`, the environment beating earlier keys); a bare `KEY` line takes the
 * environment's value or nothing.
 */
export const COMPOSE_GO: DotenvDialect = {
  name: 'compose-go',
  parse(text, environment) {
    const out: Record<string, string | undefined> = {};
    const expand = (value: string) => interpolate(value, { ...out, ...definedOnly(environment) });
    let src = text;
    try {
      for (;;) {
        // getStatementStart: skip blank space and comment lines.
        for (;;) {
          src = trimStartWith(src, isGoSpace);
          if (!src.startsWith('#')) break;
          const newline = src.indexOf('\n');
          src = newline === -1 ? '' : src.slice(newline);
        }
        if (src === '') break;
        // locateKeyName
        if (/^export[\t\n\f\r ]+/.test(src)) src = trimStartWith(src.slice('export'.length), isLineSpace);
        let key = '';
        let offset = 0;
        let inherited = false;
        for (let i = 0; i < src.length; i++) {
          const char = src[i]!;
          if (isLineSpace(char)) continue;
          if (char === '=' || char === ':' || char === '\n') {
            key = src.slice(0, i);
            offset = i + 1;
            inherited = char === '\n';
            break;
          }
          if (/[_.\-[\]\p{L}\p{N}]/u.test(char)) continue;
          throw new SyntaxStop(); // unexpected character in variable name
        }
        key = trimEndWith(key, isGoSpace);
        src = trimStartWith(src.slice(offset), isLineSpace);
        if (key.includes(' ')) throw new SyntaxStop();
        if (inherited) {
          const inheritedValue = lookup(environment, key);
          if (inheritedValue !== undefined) out[key] = inheritedValue;
          continue;
        }
        // extractVarValue
        const quote = src[0];
        if (quote !== '"' && quote !== "'") {
          const newline = src.indexOf('\n');
          const line = newline === -1 ? src : src.slice(0, newline);
          src = newline === -1 ? '' : src.slice(newline + 1);
          out[key] = expand(trimEndWith(line.split(' #')[0]!, isGoSpace));
          continue;
        }
        let chars = '';
        let escaped = false;
        let closed = -1;
        for (let i = 1; i < src.length; i++) {
          const char = src[i]!;
          if (char !== quote) {
            if (!escaped && char === '\\') {
              escaped = true;
              continue;
            }
            if (escaped) chars += '\\';
            escaped = false;
            chars += char;
            continue;
          }
          if (escaped) {
            escaped = false;
            chars += char;
            continue;
          }
          closed = i;
          break;
        }
        if (closed === -1) throw new SyntaxStop(); // unterminated quoted value
        out[key] = quote === '"' ? expand(goEscapes(chars)) : chars;
        src = src.slice(closed + 1);
      }
    } catch (error) {
      if (!(error instanceof SyntaxStop)) throw error;
    }
    return out;
  },
};

function definedOnly(values: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

// ---------------------------------------------------------------------------------------------
// podman --env-file (podman 4, which podman-compose 1.0.3 hands every `env_file` to)

/**
 * containers/common's env file reader: one `KEY=VALUE` per line, taken literally (no quotes,
 * no inline comments, trailing spaces kept, a space before `=` part of the name); only lines
 * starting with `#` are comments; a bare `KEY` takes the environment's value, `PREFIX*` every
 * variable starting with PREFIX; a line starting with `=` is an error.
 */
export const PODMAN_ENV_FILE: DotenvDialect = {
  name: 'podman --env-file',
  parse(text, environment) {
    const out: Record<string, string | undefined> = {};
    for (const raw of text.split('\n')) {
      const line = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
      if (line === '' || line.startsWith('#')) continue;
      const equals = line.indexOf('=');
      if (equals === 0) break; // podman refuses the file
      if (equals > 0) {
        out[line.slice(0, equals)] = line.slice(equals + 1);
      } else if (line.endsWith('*')) {
        const prefix = line.slice(0, -1);
        for (const [name, value] of Object.entries(environment)) if (name.startsWith(prefix) && value !== undefined) out[name] = value;
      } else if (lookup(environment, line) !== undefined) {
        out[line] = lookup(environment, line);
      }
    }
    return out;
  },
};
