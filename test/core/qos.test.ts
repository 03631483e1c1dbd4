/**
 * QualityOfService counters over explicit clock values: byte rate per complete second, lost rate
 * from losses and drops, latency as the mean of a second's samples (the first one shown at once).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QualityOfService } from '../../src/core/qos';

test('lostRate counts lost packets and dropped frames against everything of the last complete second', () => {
  const q = new QualityOfService();
  const t = 1_000_000;
  q.add(100, t);
  q.add(100, t + 100);
  q.lost(1, t + 200);
  q.add(100, t + 300);
  q.drop(t + 400);
  assert.equal(q.droppedFrames, 1);
  q.add(100, t + 1000); // rolls the window
  assert.equal(q.lostRate, 2 / 5);
  assert.equal(q.byteRate, 300);
  q.add(100, t + 2000);
  assert.equal(q.lostRate, 0, 'a second without loss');
  q.add(100, t + 6000);
  assert.equal(q.byteRate, 0, 'a gap: nothing flowed');
});

test('latency: the first sample at once, then the mean of the samples of each complete second; unknown samples do not count', () => {
  const q = new QualityOfService();
  const t = 5_000_000;
  q.add(10, t, 40);
  assert.equal(q.latency, 40);
  q.add(10, t + 100, 20);
  q.add(10, t + 200, 0);
  q.add(10, t + 300, 60);
  q.add(10, t + 1000, 100); // rolls: mean of 40, 20, 60
  assert.equal(q.latency, 40);
  q.add(10, t + 2000);
  assert.equal(q.latency, 100);
  q.add(10, t + 3000);
  assert.equal(q.latency, 100, 'a second without samples keeps the last value');
});
