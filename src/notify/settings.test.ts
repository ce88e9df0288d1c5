import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NOTIFY_SECRET_VARIABLES, readNotifySettings } from './settings.js';

const files: Record<string, string> = {
  '/run/secrets/ntfy': 'tk_abcdef123456\n',
  '/run/secrets/hook': 'hook-secret-value\r\n',
  '/run/secrets/empty': '\n',
};
const readFile = (path: string): string => {
  const content = files[path];
  if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  return content;
};
const read = (env: Record<string, string | undefined>) => readNotifySettings(env, readFile);

describe('readNotifySettings', () => {
  it('turns everything off by default', () => {
    const { settings, problems, warnings } = read({});
    assert.deepEqual(settings, { ntfy: null, slack: null, webhook: null, onSuccess: false, timeoutMs: 10_000 });
    assert.deepEqual(problems, []);
    assert.deepEqual(warnings, []);
  });

  it('reads every channel, secrets from variables or files', () => {
    const { settings, problems, warnings } = read({
      NOTIFY_NTFY_URL: ' https://ntfy.example.com/deploys ',
      NOTIFY_NTFY_TOKEN_FILE: '/run/secrets/ntfy',
      NOTIFY_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/XXXX',
      NOTIFY_WEBHOOK_URL: 'http://receiver.internal:8080/gitops',
      NOTIFY_WEBHOOK_SECRET_FILE: '/run/secrets/hook',
      NOTIFY_ON_SUCCESS: 'TRUE',
      NOTIFY_TIMEOUT_SECONDS: '30',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(warnings, []);
    assert.deepEqual(settings, {
      ntfy: { url: 'https://ntfy.example.com/deploys', token: 'tk_abcdef123456' },
      slack: { url: 'https://hooks.slack.com/services/T0/B0/XXXX' },
      webhook: { url: 'http://receiver.internal:8080/gitops', secret: 'hook-secret-value' },
      onSuccess: true,
      timeoutMs: 30_000,
    });
  });

  it('takes secrets given directly', () => {
    const { settings } = read({ NOTIFY_NTFY_URL: 'https://ntfy.sh/t', NOTIFY_NTFY_TOKEN: 'tk_direct', NOTIFY_WEBHOOK_URL: 'https://r/x', NOTIFY_WEBHOOK_SECRET: 's3cret' });
    assert.equal(settings.ntfy?.token, 'tk_direct');
    assert.equal(settings.webhook?.secret, 's3cret');
  });

  it('counts blank values as unset', () => {
    const { settings, problems } = read({
      NOTIFY_NTFY_URL: '',
      NOTIFY_NTFY_TOKEN: '  ',
      NOTIFY_SLACK_WEBHOOK_URL: ' ',
      NOTIFY_WEBHOOK_SECRET: '',
      NOTIFY_WEBHOOK_SECRET_FILE: '',
      NOTIFY_ON_SUCCESS: '',
      NOTIFY_TIMEOUT_SECONDS: ' ',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(settings, { ntfy: null, slack: null, webhook: null, onSuccess: false, timeoutMs: 10_000 });
  });

  it('reports every problem at once, one line each, without echoing URLs or secrets', () => {
    const { settings, problems } = read({
      NOTIFY_NTFY_URL: 'ftp://ntfy.example.com/topic',
      NOTIFY_SLACK_WEBHOOK_URL: 'hooks.slack.com/services/SECRET',
      NOTIFY_WEBHOOK_URL: 'https://receiver.example.com/hook',
      NOTIFY_WEBHOOK_SECRET: 'inline-secret',
      NOTIFY_WEBHOOK_SECRET_FILE: '/run/secrets/hook',
      NOTIFY_NTFY_TOKEN_FILE: '/run/secrets/missing',
      NOTIFY_ON_SUCCESS: 'sometimes',
      NOTIFY_TIMEOUT_SECONDS: '1.5',
    });
    assert.deepEqual(problems, [
      'NOTIFY_NTFY_URL must be an http:// or https:// URL',
      "NOTIFY_NTFY_TOKEN_FILE /run/secrets/missing cannot be read: ENOENT: no such file or directory, open '/run/secrets/missing'",
      'NOTIFY_SLACK_WEBHOOK_URL is not a valid URL',
      'Set NOTIFY_WEBHOOK_SECRET or NOTIFY_WEBHOOK_SECRET_FILE, not both',
      'NOTIFY_ON_SUCCESS must be true or false',
      'NOTIFY_TIMEOUT_SECONDS must be a whole number',
    ]);
    assert.ok(!problems.join('\n').includes('SECRET/'), 'no URL in problems');
    assert.ok(!problems.join('\n').includes('inline-secret'));
    assert.equal(settings.ntfy, null);
    assert.equal(settings.slack, null);
  });

  it('bounds the timeout', () => {
    assert.deepEqual(read({ NOTIFY_TIMEOUT_SECONDS: '0' }).problems, ['NOTIFY_TIMEOUT_SECONDS must be between 1 and 120']);
    assert.deepEqual(read({ NOTIFY_TIMEOUT_SECONDS: '121' }).problems, ['NOTIFY_TIMEOUT_SECONDS must be between 1 and 120']);
    assert.equal(read({ NOTIFY_TIMEOUT_SECONDS: '120' }).settings.timeoutMs, 120_000);
    assert.equal(read({ NOTIFY_TIMEOUT_SECONDS: '-5' }).problems[0], 'NOTIFY_TIMEOUT_SECONDS must be a whole number');
  });

  it('accepts the usual spellings of a boolean', () => {
    for (const yes of ['true', 'True', '1', 'yes', 'on']) assert.equal(read({ NOTIFY_ON_SUCCESS: yes }).settings.onSuccess, true, yes);
    for (const no of ['false', 'FALSE', '0', 'no', 'off']) assert.equal(read({ NOTIFY_ON_SUCCESS: no }).settings.onSuccess, false, no);
  });

  it('refuses an empty secret file', () => {
    assert.deepEqual(read({ NOTIFY_WEBHOOK_URL: 'https://r/x', NOTIFY_WEBHOOK_SECRET_FILE: '/run/secrets/empty' }).problems, [
      'NOTIFY_WEBHOOK_SECRET_FILE /run/secrets/empty is empty',
    ]);
  });

  it('wants an ntfy topic and one kind of ntfy credential', () => {
    assert.deepEqual(read({ NOTIFY_NTFY_URL: 'https://ntfy.sh/' }).problems, ['NOTIFY_NTFY_URL must include the topic, like https://ntfy.sh/<topic>']);
    assert.deepEqual(read({ NOTIFY_NTFY_URL: 'https://u:p@ntfy.example.com/t', NOTIFY_NTFY_TOKEN: 'tk_x' }).problems, [
      'NOTIFY_NTFY_URL carries user:password and NOTIFY_NTFY_TOKEN is set; use one of them',
    ]);
    const basic = read({ NOTIFY_NTFY_URL: 'https://u:p@ntfy.example.com/t' });
    assert.deepEqual(basic.problems, []);
    assert.equal(basic.settings.ntfy?.url, 'https://u:p@ntfy.example.com/t');
  });

  it('warns about settings that are probably mistakes', () => {
    assert.deepEqual(read({ NOTIFY_NTFY_TOKEN: 'tk_x' }).warnings, ['NOTIFY_NTFY_TOKEN is set but NOTIFY_NTFY_URL is not; ntfy notifications are off']);
    assert.deepEqual(read({ NOTIFY_WEBHOOK_URL: 'https://r/x' }).warnings, ['NOTIFY_WEBHOOK_URL is set without NOTIFY_WEBHOOK_SECRET; its requests are not signed']);
    assert.deepEqual(read({ NOTIFY_NTFY_URL: 'http://ntfy.lan/t', NOTIFY_NTFY_TOKEN: 'tk_x' }).warnings, [
      'NOTIFY_NTFY_URL is plain http: the ntfy credentials travel unencrypted',
    ]);
    assert.deepEqual(read({ NOTIFY_ON_SUCCESS: 'true' }).warnings, ['NOTIFY_ON_SUCCESS is set but no notification channel is configured']);
  });

  it('lists every credential-bearing variable for stripping from child environments', () => {
    for (const name of ['NOTIFY_NTFY_TOKEN', 'NOTIFY_NTFY_TOKEN_FILE', 'NOTIFY_WEBHOOK_SECRET', 'NOTIFY_WEBHOOK_SECRET_FILE', 'NOTIFY_SLACK_WEBHOOK_URL', 'NOTIFY_NTFY_URL']) {
      assert.ok((NOTIFY_SECRET_VARIABLES as readonly string[]).includes(name), name);
    }
  });
});
