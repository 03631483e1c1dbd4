/**
 * The admin API on our own HTTP code: answers carry no CORS grant (another origin's page must not
 * read the API with a browser's credentials), an answer given later keeps pipelined answers in
 * order, a body over the admin bound is refused, a handler that throws is a 500.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { failure, json, type AdminRequest } from '../../src/admin/http';
import { adminRouter } from '../../src/admin/router';
import { HTTPServer } from '../../src/protocols/http/server';
import { startTestServer } from '../helpers/server';

function exchange(port: number, raw: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(raw));
    let text = '';
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no complete answer: ${text}`))), 5000);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (until(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', reject);
  });
}

test('admin router: no CORS grant, later answers in order, bounded body, 500 on a throw', async (t) => {
  const errors: string[] = [];
  const handler = (r: AdminRequest) => {
    if (r.path === '/slow') return new Promise<ReturnType<typeof json>>((res) => setTimeout(() => res(json(200, { slow: true })), 50));
    if (r.path === '/throw') throw new Error('boom');
    if (r.path === '/echo') return json(200, { method: r.method, q: r.query.get('q'), body: r.body.toString(), host: r.headers.host });
    return failure(404, 'no such route');
  };
  // the router alone on a listener of its own, in a test server running nothing else
  const s = await startTestServer({
    protocols: [
      {
        name: 'Admin',
        port: () => 0,
        enabled: () => true,
        create: (ctx) => new HTTPServer(ctx, { name: 'Admin', port: 0, host: '127.0.0.1', router: adminRouter(handler, (m) => errors.push(m)) }),
      },
    ],
  });
  t.after(() => s.stop());
  const server = s.protocol<HTTPServer>('Admin');

  const cors = await exchange(server.port, 'GET /echo?q=1 HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n', (s) => s.includes('}'));
  assert.match(cors, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(cors, /Access-Control-Allow/i);
  assert.match(cors, /"q": "1"/);

  // pipelined: the slow answer comes first, the fast one waits for it
  const both = await exchange(
    server.port,
    'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
    (s) => (s.match(/HTTP\/1\.1 200/g) ?? []).length === 2 && s.trimEnd().endsWith('}'),
  );
  assert.ok(both.indexOf('"slow": true') < both.indexOf('"body": "hello"'), both);

  const big = 'x'.repeat(70 * 1024);
  const tooBig = await exchange(server.port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`, (s) => s.includes('}'));
  assert.match(tooBig, /^HTTP\/1\.1 413/);

  const thrown = await exchange(server.port, 'GET /throw HTTP/1.1\r\nHost: x\r\n\r\n', (s) => s.includes('}'));
  assert.match(thrown, /^HTTP\/1\.1 500/);
  assert.ok(errors.some((e) => /boom/.test(e)));
});
