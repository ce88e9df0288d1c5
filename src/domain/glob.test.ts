import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globProblem, matchesGlob } from './glob.js';

describe('matchesGlob', () => {
  it('matches * and ? within one segment', () => {
    assert.ok(matchesGlob('data/app.db', 'data/*.db'));
    assert.ok(!matchesGlob('data/sub/app.db', 'data/*.db'));
    assert.ok(matchesGlob('log1.txt', 'log?.txt'));
    assert.ok(!matchesGlob('log12.txt', 'log?.txt'));
  });

  it('matches ** across segments, including none', () => {
    assert.ok(matchesGlob('data/a/b/c.db', 'data/**'));
    assert.ok(matchesGlob('data/c.db', 'data/**/*.db'));
    assert.ok(matchesGlob('data/x/y/c.db', 'data/**/*.db'));
    assert.ok(!matchesGlob('other/c.db', 'data/**'));
  });

  it('matches a pattern without a slash at any depth, like .gitignore', () => {
    assert.ok(matchesGlob('acme.json', 'acme.json'));
    assert.ok(matchesGlob('state/acme.json', 'acme.json'));
    assert.ok(matchesGlob('db/app.sqlite', '*.sqlite'));
    assert.ok(matchesGlob('cache.db', './cache.db'));
  });

  it('reads character classes and takes every other character literally', () => {
    assert.ok(matchesGlob('a1.log', 'a[0-9].log'));
    assert.ok(!matchesGlob('ab.log', 'a[0-9].log'));
    assert.ok(matchesGlob('ab.log', 'a[!0-9].log'));
    assert.ok(!matchesGlob('axlog', 'a.log'));
    assert.ok(matchesGlob('../../secrets/x.db', '../../secrets/*.db'));
    assert.ok(matchesGlob('a+(b).txt', 'a+(b).txt'));
  });

  it('says what is wrong with a pattern it cannot read', () => {
    assert.equal(globProblem(''), 'is empty');
    assert.equal(globProblem('a[b'), 'has an unclosed [');
    assert.equal(globProblem('data/**'), undefined);
  });
});
