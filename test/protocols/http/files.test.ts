/** Static files with curl: MIME, caching headers, 304, ranges, listings, index, path safety. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Table } from '../../../src/serialization/value';
import { curl, rawExchange, requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { TestHost } from '../../helpers/test-host';


function header(headers: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: (.*)\\r?$`, 'im').exec(headers);
  return m?.[1].trim();
}

const BIG = Buffer.alloc(700_000);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31) & 0xff;

async function server(t: TestContext, files: Record<string, string | Buffer | null>, setup?: (h: TestHost) => void, index?: string): Promise<HTTPTestServer> {
  const dir = tempWWW(files);
  const s = await startHTTP({
    dir,
    host: (ctx) => {
      const h = new TestHost(ctx.wwwDir);
      setup?.(h);
      return h;
    },
    overrides: index !== undefined ? { 'HTTP.index': index } : {},
  });
  t.after(() => s.stop());
  return s;
}

test('curl fetches files with their MIME type, validators, 304 and HEAD', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t, { 'a.txt': 'hello world\n', 'app/page.html': '<p>x</p>', 'app/s.css': 'b{}', 'img.png': Buffer.from([0x89, 0x50]), 'x.unknownext': 'z' });
  let r = await curl([s.url('a.txt')]);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello world\n');
  assert.equal(header(r.headers, 'Content-Type'), 'text/plain; charset=utf-8');
  const lastModified = header(r.headers, 'Last-Modified')!;
  const etag = header(r.headers, 'ETag')!;
  assert.ok(lastModified && etag);
  assert.equal((await curl([s.url('app/page.html')])).body.toString(), '<p>x</p>');
  assert.match(header((await curl([s.url('app/s.css')])).headers, 'Content-Type')!, /^text\/css/);
  assert.equal(header((await curl([s.url('img.png')])).headers, 'Content-Type'), 'image/png');
  assert.equal(header((await curl([s.url('x.unknownext')])).headers, 'Content-Type'), 'application/octet-stream');
  r = await curl(['-H', `If-Modified-Since: ${lastModified}`, s.url('a.txt')]);
  assert.equal(r.status, 304);
  assert.equal(r.body.length, 0);
  r = await curl(['-H', `If-None-Match: ${etag}`, s.url('a.txt')]);
  assert.equal(r.status, 304);
  r = await curl(['-H', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT', s.url('a.txt')]);
  assert.equal(r.status, 200);
  r = await curl(['-I', s.url('a.txt')]);
  assert.equal(r.status, 200);
  assert.equal(header(r.headers, 'Content-Length'), '12');
  assert.ok(!r.body.toString().includes('hello'));
  // HEAD then GET on one connection: the HEAD answer carries no body, the GET answer follows it
  const both = (await rawExchange(s.port, 'HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n')).toString();
  assert.equal(both.split('HTTP/1.1 200 OK').length, 3);
  assert.ok(both.endsWith('\r\n\r\nhello world\n'));
  r = await curl([s.url('missing.txt')]);
  assert.equal(r.status, 404);
  assert.match(r.body.toString(), /404/);
});

test('ranges: small and large files, suffix and open ranges, 416', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t, { 'a.txt': 'hello world\n', 'big.bin': BIG });
  let r = await curl(['-r', '2-5', s.url('a.txt')]);
  assert.equal(r.status, 206);
  assert.equal(r.body.toString(), 'llo ');
  assert.equal(header(r.headers, 'Content-Range'), 'bytes 2-5/12');
  r = await curl(['-r', '-3', s.url('a.txt')]);
  assert.equal(r.body.toString(), 'ld\n');
  r = await curl(['-r', '100-', s.url('a.txt')]);
  assert.equal(r.status, 416);
  assert.equal(header(r.headers, 'Content-Range'), 'bytes */12');
  r = await curl([s.url('big.bin')]);
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(BIG));
  r = await curl(['-r', '300000-650000', s.url('big.bin')]);
  assert.equal(r.status, 206);
  assert.ok(r.body.equals(BIG.subarray(300000, 650001)));
  r = await curl(['-r', '699990-', s.url('big.bin')]);
  assert.ok(r.body.equals(BIG.subarray(699990)));
  // two requests on one connection after a streamed body: keep-alive still in step
  r = await curl([s.url('big.bin'), '-o', '/dev/null', s.url('a.txt')]);
  assert.equal(r.body.toString(), 'hello world\n');
});

test('folders: listing sorted by ?N ?M ?S, index setting, onConnection index, 301 without slash', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(
    t,
    { 'b.txt': 'bb', 'a.txt': 'aaaa', 'c.txt': 'c', 'sub/index.html': 'SUB INDEX', 'closed/x.txt': 'x', 'home/start.html': 'START', 'rpcindex/x.txt': '' },
    (h) => {
      h.connection = (c) => (c.path === '/closed' ? Table.of({ index: false }) : c.path === '/home' ? Table.of({ index: 'start.html' }) : c.path === '/rpcindex' ? Table.of({ index: 'hello' }) : null);
      h.methods.hello = (c) => (c.path === '/rpcindex' ? ['from method'] : []);
    },
  );
  const order = (html: string) => [...html.matchAll(/href="([abc]\.txt)"/g)].map((m) => m[1]).join(',');
  let r = await curl([s.url('/')]);
  assert.equal(r.status, 200);
  assert.match(r.body.toString(), /Index of \//);
  assert.equal(order(r.body.toString()), 'a.txt,b.txt,c.txt');
  assert.match(r.body.toString(), /href="sub\/"/);
  assert.equal(order((await curl([s.url('/?S')])).body.toString()), 'c.txt,b.txt,a.txt');
  assert.equal(order((await curl([s.url('/?N=D')])).body.toString()), 'c.txt,b.txt,a.txt');
  fs.utimesSync(path.join(s.www, 'b.txt'), new Date(1000), new Date(1000));
  assert.equal(order((await curl([s.url('/?M')])).body.toString()).split(',')[0], 'b.txt');
  r = await curl([s.url('closed/')]);
  assert.equal(r.status, 403);
  r = await curl([s.url('home/')]);
  assert.equal(r.body.toString(), 'START');
  r = await curl([s.url('rpcindex/')]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['from method']);
  r = await curl([s.url('sub')]);
  assert.equal(r.status, 301);
  assert.equal(header(r.headers, 'Location'), '/sub/');
  r = await curl(['-L', s.url('sub')]);
  assert.match(r.body.toString(), /Index of \/sub\//); // no index configured: a listing
});

test('the configured index file is served for folders that have it', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t, { 'index.html': 'ROOT INDEX', 'other/x.txt': 'x' }, undefined, 'index.html');
  assert.equal((await curl([s.url('/')])).body.toString(), 'ROOT INDEX');
  assert.match((await curl([s.url('other/')])).body.toString(), /Index of/);
});

test('no path escapes www/: .., %2e%2e, absolute targets, backslashes, NUL, symlinks', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t, { 'a.txt': 'inside', 'app/b.txt': 'b' });
  const secret = path.join(s.dir, 'secret.txt');
  fs.writeFileSync(secret, 'TOP SECRET');
  fs.symlinkSync(secret, path.join(s.www, 'link.txt'));
  fs.symlinkSync(s.dir, path.join(s.www, 'linkdir'));
  fs.symlinkSync(path.join(s.www, 'a.txt'), path.join(s.www, 'app', 'inner-link.txt'));
  const attempts = [
    '/../secret.txt',
    '/app/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/%2e%2e/etc/passwd',
    '/app/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/..%2fsecret.txt',
    '/app/..%5c..%5csecret.txt',
    '/link.txt',
    '/linkdir/secret.txt',
    '/linkdir/',
    '//etc/passwd',
    '/%00/etc/passwd',
    '/a.txt%00.html',
  ];
  for (const a of attempts) {
    const r = await curl(['--path-as-is', `http://127.0.0.1:${s.port}${a}`]);
    assert.ok(r.status >= 400, `${a} answered ${r.status}`);
    assert.ok(!r.body.toString().includes('TOP SECRET') && !r.body.toString().includes('root:'), `${a} leaked`);
  }
  // a symlink that stays inside www/ is followed
  assert.equal((await curl([s.url('app/inner-link.txt')])).body.toString(), 'inside');
  // absolute-form and non-origin targets over a raw socket
  for (const target of ['/etc/passwd', 'http://evil/../../secret.txt', 'secret.txt', 'file:///etc/passwd', '*']) {
    const out = (await rawExchange(s.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toString();
    assert.match(out, /^HTTP\/1\.1 (4\d\d)/, target);
    assert.ok(!out.includes('TOP SECRET') && !out.includes('root:'), target);
  }
});
