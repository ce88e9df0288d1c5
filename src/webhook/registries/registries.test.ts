import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isAppError } from '../../errors.js';
import { readDockerHubCallback } from './dockerhub/index.js';
import { readHarborEvent } from './harbor/index.js';

const fixture = (path: string) => readFileSync(new URL(path, import.meta.url));

describe('registry payloads', () => {
  it('reads the image of Docker Hub\'s sample callback', () => {
    assert.deepEqual(readDockerHubCallback(fixture('./dockerhub/fixtures/callback.json')), ['docker.io/svendowideit/testhook:latest']);
    assert.throws(() => readDockerHubCallback(Buffer.from('{"push_data":{}}')), (e) => isAppError(e) && e.code === 'INVALID_JSON');
  });

  it('reads every resource of Harbor\'s PUSH_ARTIFACT sample, and nothing of other events', () => {
    const body = fixture('./harbor/fixtures/push-artifact.json');
    assert.deepEqual(readHarborEvent(body).images, [
      'localhost/harbor/alpine@sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4',
      'harbor.example.com/library/alpine:3.10',
    ]);
    const deleted = Buffer.from(body.toString('utf8').replace('PUSH_ARTIFACT', 'DELETE_ARTIFACT'));
    assert.deepEqual(readHarborEvent(deleted), { type: 'DELETE_ARTIFACT', images: [] });
  });
});
