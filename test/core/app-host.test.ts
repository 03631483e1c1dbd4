import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionAppPath } from '../../src/core/app-host';

test('connectionAppPath: the whole path if an app, else the parent of a stream name, else the whole path', () => {
  const apps = new Set(['', '/live', '/Games', '/Games/myGame']);
  const exists = (a: string) => apps.has(a);
  assert.equal(connectionAppPath('/live', exists), '/live');
  assert.equal(connectionAppPath('/live/s1', exists), '/live', 'last segment is a stream of /live');
  assert.equal(connectionAppPath('/Games/myGame', exists), '/Games/myGame', 'a nested app beats its parent');
  assert.equal(connectionAppPath('/Games/myGame/s', exists), '/Games/myGame');
  assert.equal(connectionAppPath('/Games/s', exists), '/Games');
  assert.equal(connectionAppPath('/nope', exists), '/nope', 'unknown: kept whole so connect answers InvalidApp');
  assert.equal(connectionAppPath('/nope/x/y', exists), '/nope/x/y', 'never climbs more than one segment');
  assert.equal(connectionAppPath('/s1', exists), '/s1', 'a single segment is never a stream of the root app');
  assert.equal(connectionAppPath('', exists), '');
  assert.equal(connectionAppPath('/', exists), '');
  assert.equal(connectionAppPath('//live//s1/', exists), '/live', 'empty segments do not count');
});

test('connectionAppPath asks about the whole path first, then only its parent', () => {
  const asked: string[] = [];
  connectionAppPath('/a/b/c', (a) => (asked.push(a), false));
  assert.deepEqual(asked, ['/a/b/c', '/a/b']);
});
