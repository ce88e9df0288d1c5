/**
 * A setting given directly (`NAME`) or as a file (`NAME_FILE`, a Docker/Podman secret). Read the
 * same way by the server, its notification settings and the CLI, so an operator's secret file
 * means the same thing everywhere. Pure: the file read is passed in.
 */

/** Where one setting may come from; `name` and `fileName` are what problems call them. */
export interface SecretSource {
  name: string;
  value: string | undefined;
  fileName: string;
  file: string | undefined;
}

/** The value (undefined when neither is set), or why there is none: both set, unreadable or empty file. */
export type SecretSetting = { ok: true; value: string | undefined } | { ok: false; problem: string };

/** `NAME` and `NAME_FILE` of an environment. */
export function envSecretSource(env: Record<string, string | undefined>, name: string): SecretSource {
  return { name, value: env[name], fileName: `${name}_FILE`, file: env[`${name}_FILE`] };
}

const blank = (text: string | undefined): text is undefined => text === undefined || text.trim() === '';

/**
 * Reads a setting from its variable or its file. A blank variable counts as unset; one trailing
 * newline of the file is not part of the value (editors and `echo` add it); a file holding
 * nothing else is a problem, not an empty secret. Problems name the file, never the value.
 */
export function readSecretSetting(source: SecretSource, readFile: (file: string) => string): SecretSetting {
  const direct = blank(source.value) ? undefined : source.value;
  const file = blank(source.file) ? undefined : source.file;
  if (direct !== undefined && file !== undefined) return { ok: false, problem: `Set ${source.name} or ${source.fileName}, not both` };
  if (file === undefined) return { ok: true, value: direct };
  let content: string;
  try {
    content = readFile(file).replace(/\r?\n$/, '');
  } catch (error) {
    return { ok: false, problem: `${source.fileName} ${file} cannot be read: ${(error as Error).message}` };
  }
  if (content.trim() === '') return { ok: false, problem: `${source.fileName} ${file} is empty` };
  return { ok: true, value: content };
}
