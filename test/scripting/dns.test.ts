/**
 * mona:createIPAddressWithDNS / createSocketAddressWithDNS: synchronous resolution
 * through the system resolver. Only names that resolve offline are used: entries of this
 * machine's /etc/hosts, and ".invalid" names (RFC 6761) that must fail without a DNS answer.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { resolveHostSync } from '../../src/scripting/runtime/dns-sync';
import { evalRoot, makeAppDir, startLua } from './lua-fixtures';

/** name → first address, from /etc/hosts (the resolver may also give others: only membership is checked) */
function hostsEntries(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let text = '';
  try {
    text = fs.readFileSync('/etc/hosts', 'utf8');
  } catch {
    return m;
  }
  for (const line of text.split('\n')) {
    const [ip, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!ip) continue;
    for (const n of names) m.set(n, [...(m.get(n) ?? []), ip]);
  }
  return m;
}

test('resolveHostSync: /etc/hosts names resolve, IP literals pass, .invalid and junk fail', () => {
  const hosts = hostsEntries();
  assert.ok(hosts.size > 0, '/etc/hosts has entries');
  for (const [name, ips] of hosts) {
    if (name === 'localhost') continue;
    const r = resolveHostSync(name);
    assert.ok('ip' in r, `${name}: ${JSON.stringify(r)}`);
    assert.ok(ips.includes(r.ip), `${name} → ${r.ip}, /etc/hosts says ${ips.join(' ')}`);
  }
  const lo = resolveHostSync('localhost');
  assert.ok('ip' in lo && (lo.ip === '127.0.0.1' || lo.ip === '::1'), JSON.stringify(lo));
  assert.deepEqual(resolveHostSync('10.1.2.3'), { ip: '10.1.2.3' });
  assert.deepEqual(resolveHostSync('::1'), { ip: '::1' });
  assert.deepEqual(resolveHostSync('no-such-host.invalid'), { error: 'cannot resolve no-such-host.invalid' });
  for (const bad of ['', '-s', 'a b', 'x;rm', 'a..b', '...']) {
    const r = resolveHostSync(bad);
    assert.ok('error' in r && /not a valid host name/.test(r.error), `${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
  }
});

test('Lua: *WithDNS return addresses for host names, nil + message when the name does not resolve', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
    const [ip, v6, loop] = evalRoot(s, 'local a = mona:createIPAddressWithDNS("localhost") return a.value, a.isIPv6, a.isLoopback');
    assert.ok(ip === '127.0.0.1' || ip === '::1', String(ip));
    assert.equal(v6, ip === '::1');
    assert.equal(loop, true);
    // a name other than localhost, taken from /etc/hosts
    const other = [...hostsEntries()].find(([n]) => n !== 'localhost');
    if (other) {
      const [v] = evalRoot(s, `return mona:createIPAddressWithDNS(${JSON.stringify(other[0])}).value`);
      assert.ok(other[1].includes(String(v)), `${other[0]} → ${v}`);
      const [sv, port] = evalRoot(s, `local a = mona:createSocketAddressWithDNS(${JSON.stringify(other[0] + ':1935')}) return a.host.value, a.port`);
      assert.ok(other[1].includes(String(sv)));
      assert.equal(port, 1935);
    }
    const [sa, sp, sv6] = evalRoot(s, 'local a = mona:createSocketAddressWithDNS("localhost", 8080) return a.value, a.port, a.isIPv6');
    assert.ok(sa === '127.0.0.1:8080' || sa === '[::1]:8080', String(sa));
    assert.equal(sp, 8080);
    assert.equal(sv6, sa === '[::1]:8080');
    // IP literals need no resolver
    assert.deepEqual(evalRoot(s, 'return mona:createSocketAddressWithDNS("[::1]:99").value'), ['[::1]:99']);
    // failures: nil and a message, the script goes on
    assert.deepEqual(evalRoot(s, 'return mona:createIPAddressWithDNS("nothing.invalid")'), [null, 'cannot resolve nothing.invalid']);
    assert.deepEqual(evalRoot(s, 'return mona:createSocketAddressWithDNS("nothing.invalid", 80)'), [null, 'cannot resolve nothing.invalid']);
    assert.deepEqual(evalRoot(s, 'return mona:createSocketAddressWithDNS("localhost")'), [null, 'localhost is not a socket address (host:port)']);
    assert.match(String(evalRoot(s, 'return select(2, mona:createSocketAddressWithDNS("localhost", 70000))')[0]), /^invalid port/);
    assert.deepEqual(evalRoot(s, 'return mona:createIPAddressWithDNS("a b")'), [null, 'a b is not a valid host name']);
  } finally {
    await s.close();
  }
});
