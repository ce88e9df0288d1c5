import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNoiseFolder, noiseRulesFor, withoutNoise } from './tool-noise.js';

// Captured from `podman-compose -p pc103exp up -d` (1.0.3, Podman 4.3.1) with both containers kept.
const UP_103_KEPT = `['podman', '--version', '']
using podman version: 4.3.1
** excluding:  set()
['podman', 'network', 'exists', 'pc103exp_default']
podman run --name=pc103exp_a_1 -d --label io.podman.compose.config-hash=123 --label com.docker.compose.service=a --net pc103exp_default --network-alias a localhost/busybox:test sleep 3600
Error: creating container storage: the container name "pc103exp_a_1" is already in use by cfc118bc4ea7ef6036a068fe48533edb7bdcfff5d49ce468de9b7a58dc44b94b. You have to remove that container to be able to reuse that name: that name is already in use
exit code: 125
podman start pc103exp_a_1
exit code: 0
['podman', 'network', 'exists', 'pc103exp_default']
podman run --name=pc103exp_b_1 -d --label io.podman.compose.config-hash=123 --label com.docker.compose.service=b --net pc103exp_default --network-alias b localhost/busybox:test sleep 3600
Error: creating container storage: the container name "pc103exp_b_1" is already in use by 7f5210bc1ea50bf8d01402746e9ee4d05997b2e2dc186357a7f481ee97516ca4. You have to remove that container to be able to reuse that name: that name is already in use
exit code: 125
podman start pc103exp_b_1
exit code: 0
`;

// Captured from `podman-compose -p pc13exp up -d a` (1.3.0) after the server removed a's old container.
const UP_130_SELECTED = `Error: no container with name or ID "pc13exp_a_1" found: no such container
Error: no container with name or ID "pc13exp_a_1" found: no such container
22dd1f5f648ea9e72ca6d8417ea3e9d4b9f48d230a3f7055eeffafbabf758126
`;

const fold = (text: string, tool = { name: 'podman-compose', version: '1.0.3' }, chunk = text.length) => {
  const folder = createNoiseFolder(noiseRulesFor(tool));
  let out = '';
  for (let i = 0; i < text.length; i += chunk) out += folder.write(text.slice(i, i + chunk));
  return out + folder.end();
};

test('podman-compose 1.0.3: "already in use" lines of kept containers and their exit code 125 fold into one line', () => {
  const out = fold(UP_103_KEPT);
  assert.ok(!out.includes('Error:'), out);
  assert.ok(!out.includes('exit code: 125'), out);
  assert.ok(out.includes('podman start pc103exp_a_1\nexit code: 0\n'), 'what the tool did stays');
  assert.ok(out.endsWith('(podman-compose 1.0.3: 2 "already in use" lines for kept containers folded: pc103exp_a_1, pc103exp_b_1)\n'), out);
});

// As the server's deployment output had it (1.0.3 in tool-generations.test.ts): podman's error reached
// the pipe before Python flushed its own buffered prints of the same `podman run`.
const UP_103_ERROR_FIRST = `Error: creating container storage: the container name "tg_sleeper_1" is already in use by 2c40. You have to remove that container to be able to reuse that name: that name is already in use
['podman', 'network', 'exists', 'tg_default']
podman run --name=tg_web_1 -d --label com.docker.compose.service=web localhost/busybox:test sleep 3600
exit code: 0
['podman', 'network', 'exists', 'tg_default']
podman run --name=tg_sleeper_1 -d --label com.docker.compose.service=sleeper localhost/busybox:test sleep 3600
exit code: 125
podman start tg_sleeper_1
exit code: 0
`;

test('the exit code 125 of a kept container folds whether its error came before, between or after', () => {
  const expected = `['podman', 'network', 'exists', 'tg_default']
podman run --name=tg_web_1 -d --label com.docker.compose.service=web localhost/busybox:test sleep 3600
exit code: 0
['podman', 'network', 'exists', 'tg_default']
podman run --name=tg_sleeper_1 -d --label com.docker.compose.service=sleeper localhost/busybox:test sleep 3600
podman start tg_sleeper_1
exit code: 0
(podman-compose 1.0.3: 1 "already in use" lines for kept containers folded: tg_sleeper_1)
`;
  assert.equal(fold(UP_103_ERROR_FIRST), expected);
  const lines = UP_103_ERROR_FIRST.split('\n');
  const error = lines.shift()!;
  const after = [...lines.slice(0, 6), error, ...lines.slice(6)].join('\n');
  assert.equal(fold(after), expected, 'error after exit code 125');
  const between = [...lines.slice(0, 5), error, ...lines.slice(5)].join('\n');
  assert.equal(fold(between), expected, 'error between run and exit code');
});

test('an exit code 125 with no noise for its container is shown, once the next line says so', () => {
  const text = 'podman run --name=x_1 -d img\nexit code: 125\npodman start x_1\n';
  assert.equal(fold(text), text);
  assert.equal(fold('podman run --name=x_1 -d img\nexit code: 125'), 'podman run --name=x_1 -d img\nexit code: 125\n');
});

test('output split anywhere (as a pipe delivers it) folds the same', () => {
  for (const chunk of [1, 7, 64]) assert.equal(fold(UP_103_KEPT, undefined, chunk), fold(UP_103_KEPT));
});

test('podman-compose 1.3.0: "no such container" lines for containers the server removed fold, the container id stays', () => {
  const out = fold(UP_130_SELECTED, { name: 'podman-compose', version: '1.3.0' });
  assert.equal(out, '22dd1f5f648ea9e72ca6d8417ea3e9d4b9f48d230a3f7055eeffafbabf758126\n(podman-compose 1.3.0: 2 "no such container" lines for containers the server had already removed folded: pc13exp_a_1)\n');
});

test('other errors and a follower line without its noise line are left alone', () => {
  const text = 'Error: short-name resolution enforced\nexit code: 125\nError: creating container storage: the container name "x_1" is already in use by abc. You have to remove that container to be able to reuse that name: that name is already in use\nexit code: 1\n';
  const out = fold(text);
  assert.ok(out.startsWith('Error: short-name resolution enforced\nexit code: 125\nexit code: 1\n'), out);
  assert.ok(out.includes('1 "already in use" lines for kept containers folded: x_1'), out);
});

test('Docker Compose output passes through untouched; an unfinished last line is kept', () => {
  const text = ' Container dk-app-web-1  Recreate\n Container dk-app-web-1  Recreated\nno newline';
  assert.equal(fold(text, { name: 'docker compose', version: '2.26.1-4' }), `${text}`);
  assert.equal(fold('podman start a_1', { name: 'podman-compose', version: '1.3.0' }), 'podman start a_1\n');
});

test('withoutNoise leaves the telling error line last (the state check quotes it)', () => {
  const rules = noiseRulesFor({ name: 'podman-compose', version: '1.0.3' });
  const text = `Error: short-name "x" did not resolve\n${UP_103_KEPT}`;
  const kept = withoutNoise(text, rules);
  assert.ok(!kept.includes('already in use') && !kept.includes('folded'), kept);
  assert.equal(kept.split('\n').filter((l) => l.startsWith('Error:')).at(-1), 'Error: short-name "x" did not resolve');
});
