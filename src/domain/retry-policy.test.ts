import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, holdsFailedInputs, isTransientFailure } from './retry-policy.js';

describe('isTransientFailure', () => {
  it('retries an unreachable engine and a hung tool whatever they said', () => {
    assert.equal(isTransientFailure({ code: 'ENGINE_UNAVAILABLE', message: 'x' }), true);
    assert.equal(isTransientFailure({ code: 'PROCESS_TIMEOUT', message: 'podman-compose took longer than 900 s' }), true);
  });

  it('retries a pull or a compose run only when the tool shows a network or engine-connection failure', () => {
    assert.equal(isTransientFailure({ code: 'PULL_FAILED', message: 'Get "https://127.0.0.1:5055/v2/": dial tcp 127.0.0.1:5055: connect: connection refused' }), true);
    assert.equal(isTransientFailure({ code: 'PULL_FAILED', message: 'net/http: TLS handshake timeout' }), true);
    assert.equal(isTransientFailure({ code: 'PULL_FAILED', message: 'received unexpected HTTP status: 503 Service Unavailable' }), true);
    assert.equal(isTransientFailure({ code: 'COMPOSE_FAILED', message: 'docker-compose up failed: Cannot connect to the Docker daemon at unix:///run/docker.sock' }), true);
    assert.equal(isTransientFailure({ code: 'PULL_FAILED', message: 'manifest unknown: manifest unknown' }), false);
    assert.equal(isTransientFailure({ code: 'PULL_FAILED', message: 'unauthorized: authentication required' }), false);
    assert.equal(isTransientFailure({ code: 'COMPOSE_FAILED', message: "podman-compose up failed: TypeError: join() argument must be str" }), false);
  });

  it('does not retry failures of the inputs themselves', () => {
    for (const code of ['COMPOSE_FILE_INVALID', 'COMPOSE_UNSUPPORTED', 'COMPOSE_FILE_AMBIGUOUS', 'ENV_FILE_MISSING', 'INPUT_FILE_INVALID', 'CONTAINER_UNHEALTHY', 'CONTAINER_EXITED', 'CONTAINER_RESTARTING', 'ENGINE_STATE_MISMATCH']) {
      assert.equal(isTransientFailure({ code, message: 'connection refused (said by the app, not the engine)' }), false, code);
    }
  });
});

describe('holdsFailedInputs', () => {
  it('holds failures of the inputs, not transient ones nor pulls (registry and credentials are outside the fingerprint)', () => {
    assert.equal(holdsFailedInputs({ code: 'COMPOSE_FILE_INVALID', message: 'x' }), true);
    assert.equal(holdsFailedInputs({ code: 'CONTAINER_EXITED', message: 'exited with code 3' }), true);
    assert.equal(holdsFailedInputs({ code: 'COMPOSE_FAILED', message: 'TypeError: join() argument must be str' }), true);
    assert.equal(holdsFailedInputs({ code: 'ENGINE_UNAVAILABLE', message: 'x' }), false);
    assert.equal(holdsFailedInputs({ code: 'PULL_FAILED', message: 'unauthorized: authentication required' }), false);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const settings = { initialMs: 30_000, maxMs: 30 * 60_000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(n, settings) / 1000), [30, 60, 120, 240, 480, 960, 1800, 1800]);
    assert.equal(backoffDelayMs(1_000, settings), 30 * 60_000, 'no overflow however many attempts');
  });
});

describe('an engine socket lost mid-call, as each tool says it', () => {
  it('is transient, so the plan does not hold it and the next run tries again', () => {
    for (const message of [
      "docker-compose up failed: docker.errors.DockerException: Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))",
      "docker-compose up failed: Couldn't connect to Docker daemon at http+docker://localhost - is it running?",
      'docker compose up failed: Cannot connect to the Docker daemon at unix:///run/docker.sock. Is the docker daemon running?',
    ]) {
      assert.equal(isTransientFailure({ code: 'COMPOSE_FAILED', message }), true, message);
      assert.equal(holdsFailedInputs({ code: 'COMPOSE_FAILED', message }), false, message);
    }
  });
});
