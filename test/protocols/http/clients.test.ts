/**
 * HTTP details MonaServer clients rely on: a request line without version (Flash raw sockets),
 * header names as written in client.properties, unparsable requests answered 400 and closed at
 * once, CORS answers consistent with the preflight, server scripts never served nor listed; and
 * the router as an extension point (a handler added, a second listener with its own router).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Client } from '../../../src/core/client';
import { HTTPServer } from '../../../src/protocols/http/server';
import { HTTPRouter } from '../../../src/protocols/http/router';
import { appRouter } from '../../../src/protocols/http/handlers';
import { curl, rawExchange, requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { TestHost } from '../../helpers/test-host';

async function server(t: TestContext, seen?: Client[]): Promise<HTTPTestServer> {
  const s = await startHTTP({
    dir: tempWWW({
      'a.txt': 'hello',
      'app/main.lua': 'function onConnection() end',
      'app/lib.lua': '-- code',
      'app/main.js': '// code',
      'app/main.ts': '// code',
      'app/page.html': '<p>page</p>',
    }),
    host: (ctx) => {
      const h = new TestHost(ctx.wwwDir);
      h.methods.props = (c) => {
        seen?.push(c);
        return [[...c.properties.fields.keys()].filter((k) => typeof k === 'string').join(',')];
      };
      h.message = (c, args) => {
        seen?.push(c);
        return [args.length];
      };
      return h;
    },
  });
  t.after(() => s.stop());
  return s;
}

test('a request line without HTTP version (Flash raw socket) is HTTP/1.0 and needs no Host', async (t) => {
  const seen: Client[] = [];
  const s = await server(t, seen);
  const body = '[1,2,3]';
  const out = (await rawExchange(s.port, `POST /app/ \r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 2000)).toString();
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /\r\n\r\n\[3\]$/);
  assert.match(out, /Connection: close/); // HTTP/1.0 without keep-alive
  assert.equal(seen[0].properties.get('HTTPVersion'), '1.0');
  // a GET too, with a trailing space and no header at all
  const get = (await rawExchange(s.port, 'GET /a.txt \r\n\r\n', 2000)).toString();
  assert.match(get, /^HTTP\/1\.1 200 OK[^]*\r\n\r\nhello$/);
});

test('header names reach client.properties as the client wrote them', async (t) => {
  const seen: Client[] = [];
  const s = await server(t, seen);
  const out = (await rawExchange(s.port, 'GET /app/props HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nCookie: a=1\r\nX-Mixed-CASE: v\r\n\r\n')).toString();
  assert.match(out, /^HTTP\/1\.1 200/);
  const p = seen[0].properties;
  assert.equal(p.get('Content-Type'), 'text/plain');
  assert.equal(p.get('Cookie'), 'a=1');
  assert.equal(p.get('X-Mixed-CASE'), 'v');
  assert.equal(p.get('Host'), 't');
  assert.equal(p.get('a'), '1'); // the cookie itself
  assert.equal(p.get('content-type'), null);
});

test('an unparsable request gets 400 and the connection closes at once, not at the idle timeout', async (t) => {
  const s = await server(t);
  for (const bad of ['\x16\x03\x01\x02\x00', 'GARBAGE LINE WITH SPACES\r\n', 'GET /a.txt HTTP/1.1 extra\r\n', '\x00\x01\x02']) {
    const started = Date.now();
    const out = await new Promise<{ text: string; ms: number }>((resolve) => {
      const sock = net.connect(s.port, '127.0.0.1');
      let text = '';
      sock.on('data', (d) => (text += d.toString('latin1')));
      sock.on('error', () => {});
      sock.on('close', () => resolve({ text, ms: Date.now() - started }));
      sock.write(bad); // no blank line: the head is not complete, the start already cannot be HTTP
    });
    assert.match(out.text, /^HTTP\/1\.1 400 /, JSON.stringify(bad));
    assert.ok(out.ms < 3000, `${JSON.stringify(bad)} closed after ${out.ms} ms (idle timeout is 7 s)`);
  }
});

test('CORS: answers to a page with an Origin allow credentials, as the preflight does', async (t) => {
  const s = await server(t);
  const pre = (await rawExchange(s.port, 'OPTIONS /app/props HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\nAccess-Control-Request-Method: POST\r\n\r\n')).toString();
  assert.match(pre, /Access-Control-Allow-Credentials: true/);
  assert.match(pre, /Access-Control-Allow-Origin: http:\/\/page\.example/);
  for (const req of ['GET /a.txt', 'GET /app/props', 'GET /missing']) {
    const out = (await rawExchange(s.port, `${req} HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\n\r\n`)).toString();
    assert.match(out, /Access-Control-Allow-Origin: http:\/\/page\.example/, req);
    assert.match(out, /Access-Control-Allow-Credentials: true/, req);
    assert.match(out, /Vary: Origin/, req);
  }
  // no Origin: any origin, no credentials (a wildcard with credentials is refused by browsers)
  const plain = (await rawExchange(s.port, 'GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n')).toString();
  assert.match(plain, /Access-Control-Allow-Origin: \*/);
  assert.doesNotMatch(plain, /Access-Control-Allow-Credentials/);
});

test('server scripts (*.lua, main.js, main.ts) are never served nor listed', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t);
  for (const f of ['main.lua', 'lib.lua', 'main.js', 'main.ts', 'MAIN.LUA']) {
    const r = await curl([s.url(`app/${f}`)]);
    assert.equal(r.status, 404, f);
    assert.doesNotMatch(r.body.toString(), /code|onConnection/, f);
  }
  const listing = await curl([s.url('app/')]);
  assert.equal(listing.status, 200);
  assert.match(listing.body.toString(), /page\.html/);
  assert.doesNotMatch(listing.body.toString(), /main\.lua|lib\.lua|main\.js|main\.ts/);
  assert.equal((await curl([s.url('app/page.html')])).status, 200);
});

test('the router: a handler added before the files, and a second listener with its own router', async (t) => {
  const s = await server(t);
  s.http.router.add(
    {
      name: 'hello',
      handle(ex) {
        if (ex.target?.path !== '/app/hello.txt') return false;
        ex.send(200, [['Content-Type', 'text/plain']], Buffer.from('from a handler'));
        return true;
      },
    },
    { before: 'files' },
  );
  assert.deepEqual(s.http.router.names.slice(0, 10), ['methods', 'options', 'upgrade', 'rpc', 'folders', 'hls-resources', 'hello', 'files', 'hls', 'live']);
  assert.match((await rawExchange(s.port, 'GET /app/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n')).toString(), /\r\n\r\nfrom a handler$/);
  // an answer that comes later (a promise): pipelined requests behind it wait, answers stay in order
  s.http.router.add(
    {
      name: 'later',
      handle(ex) {
        if (ex.target?.path !== '/later') return false;
        ex.pending = true;
        setTimeout(() => {
          ex.send(200, [['Content-Type', 'text/plain']], Buffer.from('late'));
          ex.done();
        }, 200);
        return true;
      },
    },
    { before: 'methods' },
  );
  const both = (await rawExchange(s.port, 'GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n', 600)).toString();
  assert.match(both, /^HTTP\/1\.1 200 OK[^]*\r\n\r\nlateHTTP\/1\.1 200 OK[^]*\r\n\r\nhello$/);
  assert.throws(() => s.http.router.add({ name: 'x', handle: () => false }, { before: 'nothing' }), /no HTTP handler "nothing"/);

  // another port, another router: only its handler, 404 for the rest
  const admin = new HTTPServer(s.context, {
    port: 0,
    host: '127.0.0.1',
    name: 'Admin',
    router: new HTTPRouter([
      {
        name: 'status',
        handle(ex) {
          if (ex.target?.path !== '/status') return false;
          ex.send(200, [['Content-Type', 'application/json']], Buffer.from('{"ok":true}'));
          return true;
        },
      },
    ]),
  });
  await admin.start();
  t.after(() => admin.stop());
  assert.match((await rawExchange(admin.port, 'GET /status HTTP/1.1\r\nHost: t\r\n\r\n')).toString(), /^HTTP\/1\.1 200[^]*\{"ok":true\}$/);
  assert.match((await rawExchange(admin.port, 'GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n')).toString(), /^HTTP\/1\.1 404/);
  assert.ok(appRouter().names.includes('files'));
});
