import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIP, ipOfAddress } from '../../src/core/ip';
import { Blacklist } from '../../src/core/blacklist';

test('canonicalIP: one text per address; null for what is not an IP', () => {
  assert.equal(canonicalIP('127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalIP('::ffff:127.0.0.1'), '127.0.0.1', 'IPv4-mapped (dual-stack sockets)');
  assert.equal(canonicalIP('::FFFF:7f00:1'), '127.0.0.1', 'IPv4-mapped written in hex');
  assert.equal(canonicalIP('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalIP('2001:DB8:0:0:1::1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIP('localhost'), null);
  assert.equal(canonicalIP('1.2.3'), null);
  assert.equal(canonicalIP(''), null);
});

test('ipOfAddress reads every address form protocols write', () => {
  assert.equal(ipOfAddress('127.0.0.1:5000'), '127.0.0.1');
  assert.equal(ipOfAddress('[::1]:5000'), '::1');
  assert.equal(ipOfAddress('[::ffff:127.0.0.1]:5000'), '127.0.0.1');
  assert.equal(ipOfAddress('::1:5000'), '::1:5000', 'a bare IPv6 stays whole: it is a valid address');
  assert.equal(ipOfAddress('[fe80::1%eth0]:5000'), 'fe80::1', 'zone id dropped');
  assert.equal(ipOfAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(ipOfAddress('[::1]'), '::1');
  assert.equal(ipOfAddress('host:80'), null);
});

test('Blacklist (mona:addToBlacklist) matches a peer whatever form its address takes', () => {
  const b = new Blacklist();
  assert.equal(b.has('127.0.0.1:1'), false);
  b.add('127.0.0.1');
  b.add('0:0:0:0:0:0:0:1');
  assert.equal(b.has('127.0.0.1:5000'), true);
  assert.equal(b.has('[::ffff:127.0.0.1]:5000'), true);
  assert.equal(b.has('[::1]:5000'), true);
  assert.equal(b.has('127.0.0.2:5000'), false);
  b.remove('::1');
  assert.equal(b.has('[::1]:5000'), false, 'removal compares canonical forms too');
  assert.equal(b.has('127.0.0.1:5000'), true);
});
