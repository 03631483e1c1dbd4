/** Status codes: the writer's object prefix (MonaServer's writeStatusResponse rule) and the one level rule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefixedStatusCode, statusLevel } from '../../src/core/status';

test('a script code gets its writer object in front; complete codes and empty objects are kept', () => {
  assert.equal(prefixedStatusCode('NetConnection', 'Call.Failed'), 'NetConnection.Call.Failed');
  assert.equal(prefixedStatusCode('NetStream', 'Play.Custom'), 'NetStream.Play.Custom');
  assert.equal(prefixedStatusCode('NetConnection', 'App.Welcome'), 'NetConnection.App.Welcome');
  assert.equal(prefixedStatusCode('NetConnection', ''), 'NetConnection');
  assert.equal(prefixedStatusCode('NetConnection', 'NetStream.Play.Start'), 'NetStream.Play.Start');
  assert.equal(prefixedStatusCode('NetStream', 'NetConnection.Call.Failed'), 'NetConnection.Call.Failed');
  assert.equal(prefixedStatusCode('NetConnection', 'SharedObject.Flush.Failed'), 'SharedObject.Flush.Failed');
  assert.equal(prefixedStatusCode('NetConnection', 'NetStreamish.X'), 'NetConnection.NetStreamish.X');
  assert.equal(prefixedStatusCode('', 'Call.Test'), 'Call.Test');
});

test('the level of a code is decided by its last segment', () => {
  for (const code of [
    'NetConnection.Call.Failed', 'NetConnection.Connect.Rejected', 'NetConnection.Connect.InvalidApp', 'NetStream.Publish.BadName',
    'NetStream.Play.StreamNotFound', 'NetStream.Publish.Error', 'NetStream.Seek.InvalidTime', 'App.Custom.Failed', 'Failed',
    'NetConnection.Connect.AppShutdown', 'NetStream.Record.NoAccess', 'App.DiskError',
  ]) {
    assert.equal(statusLevel(code), 'error', code);
  }
  for (const code of ['NetStream.Play.Start', 'NetConnection.Connect.Success', 'NetStream.Play.UnpublishNotify', 'App.Welcome', 'Call.Test', 'NetStream.Publish.Kicked', 'Errors.Listed', '']) {
    assert.equal(statusLevel(code), 'status', code);
  }
  assert.equal(statusLevel('NetStream.Play.InsufficientBW'), 'warning');
});
