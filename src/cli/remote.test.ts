import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CliError, ExitCode } from './exit-codes.js';
import { resolveServerUrl, resolveToken } from './remote.js';

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CliError);
    assert.equal(error.exitCode, ExitCode.usage);
    return error.message;
  }
  assert.fail('expected a usage error');
};

describe('resolveServerUrl', () => {
  it('takes --url, else GDS_URL, else the local server on PORT', () => {
    assert.equal(resolveServerUrl({ url: 'https://gds.example.com/' }, { GDS_URL: 'http://other' }), 'https://gds.example.com');
    assert.equal(resolveServerUrl({}, { GDS_URL: 'http://10.0.0.5:9000/gds/' }), 'http://10.0.0.5:9000/gds');
    assert.equal(resolveServerUrl({}, { PORT: '9090' }), 'http://127.0.0.1:9090');
    assert.equal(resolveServerUrl({}, { GDS_URL: '', PORT: '' }), 'http://127.0.0.1:8080');
  });

  it('refuses what is not an http(s) URL, or carries credentials (exit 2)', () => {
    assert.match(usage(() => resolveServerUrl({ url: 'localhost:8080' }, {})), /http:\/\/ or https:\/\//);
    assert.match(usage(() => resolveServerUrl({ url: 'not a url' }, {})), /is not a URL/);
    assert.match(usage(() => resolveServerUrl({ url: 'http://user:pw@host' }, {})), /must not carry credentials/);
  });
});

describe('resolveToken', () => {
  it('takes --token, else API_TOKEN, else API_TOKEN_FILE without its trailing newline', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-token-'));
    try {
      const file = path.join(dir, 'token');
      writeFileSync(file, 'from-file\n');
      assert.equal(resolveToken({ token: 'flag' }, { API_TOKEN: 'env', API_TOKEN_FILE: file }), 'flag');
      assert.equal(resolveToken({}, { API_TOKEN: 'env' }), 'env');
      assert.equal(resolveToken({}, { API_TOKEN_FILE: file }), 'from-file');
      assert.match(usage(() => resolveToken({}, { API_TOKEN_FILE: path.join(dir, 'missing') })), /API_TOKEN_FILE \S+missing cannot be read/);
      writeFileSync(path.join(dir, 'empty'), '\n');
      assert.match(usage(() => resolveToken({}, { API_TOKEN_FILE: path.join(dir, 'empty') })), /API_TOKEN_FILE \S+empty is empty/);
      // The server refuses both; a CLI that silently picked one would talk with another token.
      assert.match(usage(() => resolveToken({}, { API_TOKEN: 'env', API_TOKEN_FILE: file })), /API_TOKEN or API_TOKEN_FILE, not both/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is a configuration error (exit 2) when there is none', () => {
    assert.match(usage(() => resolveToken({}, {})), /no API token/);
  });
});
