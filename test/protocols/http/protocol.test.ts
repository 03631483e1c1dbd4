/**
 * HTTP/1.1 mechanics over raw sockets: keep-alive, pipelining, chunked bodies, CORS preflight, idle
 * timeout, error statuses with small bodies, and fuzzed requests that must leave the server serving.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { HTTP_LIMITS, HTTPError, RequestParser } from '../../../src/protocols/http/parser';
import { rawExchange, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { prng, randomBuffer } from '../../helpers/prng';
import { TestHost } from '../../helpers/test-host';

async function server(t: TestContext, overrides: Record<string, string> = {}): Promise<HTTPTestServer> {
  const s = await startHTTP({
    dir: tempWWW({ 'a.txt': 'hello', 'app/b.txt': 'bee' }),
    host: (ctx) => {
      const h = new TestHost(ctx.wwwDir);
      h.methods.len = (_c, args) => [args.map((a) => (Buffer.isBuffer(a) ? a.length : JSON.stringify(a))).join(',')];
      h.methods.sum = (_c, args) => [args.reduce<number>((x, y) => x + Number(y), 0)];
      return h;
    },
    overrides,
  });
  t.after(() => s.stop());
  return s;
}

const get = (p: string, extra = '') => `GET ${p} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

function statuses(out: string): number[] {
  return [...out.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
}

test('parser: pipelined requests in any cut, chunked bodies with extensions and trailers', () => {
  const text =
    get('/1') +
    'POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n' +
    '\r\n' + // tolerated empty line between requests
    'GET /4 HTTP/1.0\r\n\r\n';
  const bytes = Buffer.from(text);
  for (const step of [1, 2, 3, 7, 13, bytes.length]) {
    const p = new RequestParser();
    const got = [];
    for (let i = 0; i < bytes.length; i += step) got.push(...p.push(bytes.subarray(i, i + step)));
    assert.deepEqual(
      got.map((r) => `${r.method} ${r.target} ${r.version} ${r.body.toString()}`),
      ['GET /1 1.1 ', 'POST /2 1.1 hello', 'POST /3 1.1 abcde', 'GET /4 1.0 '],
      `step ${step}`,
    );
  }
});

test('parser: limits and malformed input raise the right status', () => {
  const cases: Array<[string, number]> = [
    ['GET / HTTP/1.1\r\nHost: t\r\nX: ' + 'a'.repeat(HTTP_LIMITS.headerBytes) + '\r\n\r\n', 431],
    ['GET / HTTP/1.1\r\n' + 'X: 1\r\n'.repeat(HTTP_LIMITS.headerCount + 1) + 'Host: t\r\n\r\n', 431],
    [`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${HTTP_LIMITS.bodyBytes + 1}\r\n\r\n`, 413],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n' + 'ffffff\r\n' + 'x'.repeat(10), 413],
    ['GARBAGE\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: t\r\n\r\n', 505],
    ['GET / HTTP/1.1\r\n\r\n', 400], // no Host
    ['GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n', 400],
  ];
  for (const [text, status] of cases) {
    const p = new RequestParser();
    if (status === 0) {
      assert.deepEqual(p.push(Buffer.from(text)), []); // needs more: not an error yet
      continue;
    }
    assert.throws(() => p.push(Buffer.from(text)), (e: unknown) => e instanceof HTTPError && e.status === status, JSON.stringify(text.slice(0, 60)));
  }
  // many chunks adding up over the limit
  const p = new RequestParser({ ...HTTP_LIMITS, bodyBytes: 10 });
  assert.throws(() => p.push(Buffer.from('POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n')), (e: unknown) => e instanceof HTTPError && e.status === 413);
});

test('keep-alive and pipelining: answers in order on one connection; HTTP/1.0 and Connection: close end it', async (t) => {
  const s = await server(t);
  const out = (await rawExchange(s.port, get('/a.txt') + get('/app/b.txt') + get('/missing') + get('/app/sum?1&2&3') + get('/a.txt'))).toString();
  assert.deepEqual(statuses(out), [200, 200, 404, 200, 200]);
  const bodies = out.split(/HTTP\/1\.1 \d{3}[^]*?\r\n\r\n/).slice(1);
  assert.equal(bodies[0], 'hello');
  assert.equal(bodies[1], 'bee');
  assert.equal(bodies[3], '[6]');
  // Connection: close → the server closes after that answer, later pipelined requests are ignored
  const closed = (await rawExchange(s.port, get('/a.txt', 'Connection: close\r\n') + get('/a.txt'), 2000)).toString();
  assert.deepEqual(statuses(closed), [200]);
  assert.match(closed, /Connection: close/);
  // HTTP/1.0 without keep-alive: one answer then close; with keep-alive: kept
  const h10 = (await rawExchange(s.port, 'GET /a.txt HTTP/1.0\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n', 2000)).toString();
  assert.deepEqual(statuses(h10), [200]);
  const h10k = (await rawExchange(s.port, 'GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n', 2000)).toString();
  assert.deepEqual(statuses(h10k), [200, 200]);
});

test('chunked request bodies reach the method; 413 and 431 with small bodies; server keeps serving', async (t) => {
  const s = await server(t);
  const chunked = 'POST /app/sum HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[1, \r\n5\r\n2, 3]\r\n0\r\n\r\n';
  let out = (await rawExchange(s.port, chunked)).toString();
  assert.match(out, /^HTTP\/1\.1 200[^]*\r\n\r\n\[6\]$/);
  out = (await rawExchange(s.port, `POST /app/sum HTTP/1.1\r\nHost: t\r\nContent-Length: ${HTTP_LIMITS.bodyBytes + 1}\r\n\r\n`)).toString();
  assert.deepEqual(statuses(out), [413]);
  assert.ok(out.length < 1000);
  out = (await rawExchange(s.port, `GET / HTTP/1.1\r\nHost: t\r\nCookie: ${'x'.repeat(HTTP_LIMITS.headerBytes)}\r\n\r\n`)).toString();
  assert.deepEqual(statuses(out), [431]);
  assert.ok(out.length < 1000);
  // the request before a malformed one is still answered, then 400 and close
  out = (await rawExchange(s.port, get('/a.txt') + 'NOT HTTP\r\n\r\n' + get('/a.txt'), 2000)).toString();
  assert.deepEqual(statuses(out), [200, 400]);
  assert.deepEqual(statuses((await rawExchange(s.port, get('/a.txt'))).toString()), [200]);
  // unsupported methods
  out = (await rawExchange(s.port, 'DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n')).toString();
  assert.deepEqual(statuses(out), [405]);
  assert.match(out, /Allow: GET, HEAD, POST, OPTIONS/);
});

test('CORS: preflight answers the asked headers, responses carry Access-Control-Allow-Origin', async (t) => {
  const s = await server(t);
  let out = (await rawExchange(s.port, 'OPTIONS /app/sum HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, x-custom\r\n\r\n')).toString();
  assert.deepEqual(statuses(out), [200]);
  assert.match(out, /Access-Control-Allow-Origin: http:\/\/page\.example/);
  assert.match(out, /Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS/);
  assert.match(out, /Access-Control-Allow-Headers: content-type, x-custom/);
  out = (await rawExchange(s.port, get('/a.txt'))).toString();
  assert.match(out, /Access-Control-Allow-Origin: \*/);
});

test('idle connections are closed after the configured timeout', async (t) => {
  const s = await server(t, { 'HTTP.timeout': '1' });
  const sock = net.connect(s.port, '127.0.0.1');
  t.after(() => sock.destroy());
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    sock.resume(); // read the answer so that the end of the stream is seen
    sock.on('close', () => resolve());
    sock.on('error', reject);
    sock.write(get('/a.txt'));
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900, `closed after ${elapsed} ms`);
});

test('fuzz: random and mutated requests get an HTTP error or nothing, never a crash', async (t) => {
  const s = await server(t);
  const rnd = prng(0x5eed);
  const seeds = [
    get('/a.txt'),
    'POST /app/sum HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]',
    'POST /app/len HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<a/>x\r\n0\r\n\r\n',
    'POST /app/len HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-amf\r\nContent-Length: 4\r\n\r\n\x02\x00\x01a',
    get('/app/../a.txt?x=%zz&&=&a'),
  ];
  for (let i = 0; i < 120; i++) {
    let b: Buffer;
    if (i % 4 === 0) {
      b = randomBuffer(rnd, 1 + Math.floor(rnd() * 300));
    } else {
      b = Buffer.from(seeds[Math.floor(rnd() * seeds.length)], 'latin1');
      const flips = 1 + Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(rnd() * b.length);
        const op = rnd();
        if (op < 0.5) b[at] = Math.floor(rnd() * 256);
        else if (op < 0.8) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from(b.subarray(at, at + 20)), b.subarray(at)]);
      }
    }
    const out = (await rawExchange(s.port, b, 60)).toString('latin1');
    if (out.length) assert.match(out, /^HTTP\/1\.1 \d{3} /, `case ${i}`);
  }
  // still serving
  assert.deepEqual(statuses((await rawExchange(s.port, get('/a.txt'))).toString()), [200]);
});
