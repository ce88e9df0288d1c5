import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envSecretSource, readSecretSetting } from './secret-setting.js';

const files: Record<string, string> = { '/s/lf': 'from-file\n', '/s/crlf': 'from-file\r\n', '/s/two': 'from-file\n\n', '/s/empty': '\n', '/s/spaces': '  \n' };
const readFile = (file: string): string => {
  const content = files[file];
  if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${file}'`);
  return content;
};
const read = (env: Record<string, string | undefined>) => readSecretSetting(envSecretSource(env, 'TOKEN'), readFile);

describe('readSecretSetting', () => {
  it('takes the variable, else the file without one trailing newline', () => {
    assert.deepEqual(read({ TOKEN: 'direct' }), { ok: true, value: 'direct' });
    assert.deepEqual(read({ TOKEN_FILE: '/s/lf' }), { ok: true, value: 'from-file' });
    assert.deepEqual(read({ TOKEN_FILE: '/s/crlf' }), { ok: true, value: 'from-file' });
    assert.deepEqual(read({ TOKEN_FILE: '/s/two' }), { ok: true, value: 'from-file\n' }, 'only one newline is dropped');
  });

  it('is unset when neither is given, or both are blank', () => {
    assert.deepEqual(read({}), { ok: true, value: undefined });
    assert.deepEqual(read({ TOKEN: '', TOKEN_FILE: ' ' }), { ok: true, value: undefined });
  });

  it('refuses both set, naming both', () => {
    assert.deepEqual(read({ TOKEN: 'direct', TOKEN_FILE: '/s/lf' }), { ok: false, problem: 'Set TOKEN or TOKEN_FILE, not both' });
  });

  it('refuses an unreadable file, naming the file and not any value', () => {
    const result = read({ TOKEN_FILE: '/s/missing' });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.problem : '', /^TOKEN_FILE \/s\/missing cannot be read: ENOENT/);
  });

  it('refuses an empty file rather than an empty secret', () => {
    assert.deepEqual(read({ TOKEN_FILE: '/s/empty' }), { ok: false, problem: 'TOKEN_FILE /s/empty is empty' });
    assert.deepEqual(read({ TOKEN_FILE: '/s/spaces' }), { ok: false, problem: 'TOKEN_FILE /s/spaces is empty' });
  });

  it('names command-line sources as given', () => {
    const result = readSecretSetting({ name: '--secret', value: 'x', fileName: '--secret-file', file: '/s/lf' }, readFile);
    assert.deepEqual(result, { ok: false, problem: 'Set --secret or --secret-file, not both' });
  });
});
