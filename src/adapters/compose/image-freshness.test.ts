import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerState } from '../../domain/engine-state.js';
import { AppError } from '../../errors.js';
import { imageFreshness, isDigestPinned, type FreshnessDeps } from './image-freshness.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const container = (imageId: string) => ({ id: `c-${imageId}`, name: 'app-1', service: 'app', imageId, state: 'running' }) as unknown as ContainerState;

function deps(options: { tagId?: string; repoDigests?: string[]; remote?: string | Error }): FreshnessDeps & { asked: Array<{ reference: string; auth: Record<string, string> }> } {
  const asked: Array<{ reference: string; auth: Record<string, string> }> = [];
  return {
    asked,
    engine: {
      imageId: async () => options.tagId,
      repoDigests: async () => options.repoDigests ?? [],
    },
    registryDigest: async (reference, auth) => {
      asked.push({ reference, auth });
      if (options.remote instanceof Error) throw options.remote;
      return options.remote ?? D1;
    },
  };
}

describe('imageFreshness', () => {
  const auth = { REGISTRY_AUTH_FILE: '/data/registry-auth/config.json' };

  it('is unchanged when the registry serves a digest of the running image, asked with the pull credentials', async () => {
    const d = deps({ tagId: 'img1', repoDigests: [`reg/app@${D2}`, `reg/app@${D1}`], remote: D1 });
    assert.deepEqual(await imageFreshness(d, 'reg/app:1', [container('img1')], auth), { kind: 'unchanged', digest: D1 });
    assert.deepEqual(d.asked, [{ reference: 'reg/app:1', auth }]);
  });

  it('pulls when the tag moved, the local tag is elsewhere, nothing runs, or the image has no registry digest', async () => {
    assert.deepEqual(await imageFreshness(deps({ tagId: 'img1', repoDigests: [`reg/app@${D1}`], remote: D2 }), 'reg/app:1', [container('img1')], auth), { kind: 'pull' });
    assert.deepEqual(await imageFreshness(deps({ tagId: 'img2', repoDigests: [`reg/app@${D1}`] }), 'reg/app:1', [container('img1')], auth), { kind: 'pull' });
    assert.deepEqual(await imageFreshness(deps({ tagId: 'img1', repoDigests: [`reg/app@${D1}`] }), 'reg/app:1', [], auth), { kind: 'pull' });
    assert.deepEqual(await imageFreshness(deps({ tagId: 'img1', repoDigests: [`reg/app@${D1}`] }), 'reg/app:1', [container('img1'), container('img0')], auth), { kind: 'pull' });
    const local = deps({ tagId: 'img1', repoDigests: [] });
    assert.deepEqual(await imageFreshness(local, 'reg/app:1', [container('img1')], auth), { kind: 'pull' });
    assert.equal(local.asked.length, 0, 'nothing to compare with: the registry is not asked');
  });

  it('falls back to pulling, and says why, when the registry cannot be asked', async () => {
    const d = deps({ tagId: 'img1', repoDigests: [`reg/app@${D1}`], remote: new AppError('PULL_FAILED', 'asking reg for the digest of reg/app:1 failed: connection refused') });
    const result = await imageFreshness(d, 'reg/app:1', [container('img1')], auth);
    assert.equal(result.kind, 'pull');
    assert.match((result as { note: string }).note, /cannot be asked .* connection refused\); pulling/);
  });

  it('never updates a digest-pinned reference, with or without a tag', async () => {
    const d = deps({});
    assert.deepEqual(await imageFreshness(d, `reg/app@${D1}`, [container('img1')], auth), { kind: 'pinned' });
    assert.deepEqual(await imageFreshness(d, `reg/app:1@${D1}`, [container('img1')], auth), { kind: 'pinned' });
    assert.equal(d.asked.length, 0);
    assert.equal(isDigestPinned('reg/app:1'), false);
  });
});
