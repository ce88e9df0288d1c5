/**
 * Compose-style variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `$$` for a literal dollar) over a variable map. Used to know which image a compose service
 * runs when its `image:` names a variable; the compose tool still does the real interpolation.
 */
export function interpolate(text: string, variables: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (match, braced, op, fallback, bare) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare) as string;
    const value = variables[name];
    if (op === ':-') return value === undefined || value === '' ? (fallback ?? '') : value;
    if (op === '-') return value === undefined ? (fallback ?? '') : value;
    return value ?? '';
  });
}
