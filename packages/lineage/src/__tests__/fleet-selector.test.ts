import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { globToRegExpSource, matchesSelector } from '../fleet-types.js';

const d = (name: string, currentHost: string | null = 'a', tags: string[] = []) => ({
  name,
  currentHost,
  tags,
});

describe('policy selectors', () => {
  it('turn globs into anchored expressions with every other character literal', () => {
    assert.equal(globToRegExpSource('web-*'), '^web-.*$');
    assert.equal(globToRegExpSource('a.b?(c)'), '^a\\.b.\\(c\\)$');
  });

  it('match by name glob, host and tag, all given fields at once', () => {
    assert.equal(matchesSelector({ nameGlob: 'web-*' }, d('web-1')), true);
    assert.equal(matchesSelector({ nameGlob: 'web-*' }, d('db-web-1')), false);
    assert.equal(matchesSelector({ nameGlob: 'web.1' }, d('web-1')), false);
    assert.equal(matchesSelector({ nameGlob: 'web-?' }, d('web-12')), false);
    assert.equal(matchesSelector({ host: 'b' }, d('x', 'a')), false);
    assert.equal(matchesSelector({ host: 'b' }, d('x', null)), false);
    assert.equal(matchesSelector({ tag: 'prod' }, d('x', 'a', ['dev', 'prod'])), true);
    assert.equal(matchesSelector({ tag: 'prod', host: 'b' }, d('x', 'a', ['prod'])), false);
    assert.equal(matchesSelector({}, d('anything', null)), true);
  });
});
