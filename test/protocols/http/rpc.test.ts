/**
 * RPC over HTTP against a JS test host: GET on a method name with query arguments, POST
 * in JSON, XML-RPC, AMF and form bodies answered in the same format, cookies, onRead decisions,
 * client lifecycle on kept-alive connections.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAMF0, encodeAMF0 } from '../../../src/serialization/amf0';
import { CallFailed } from '../../../src/core/errors';
import { decodeXMLRPC } from '../../../src/serialization/xmlrpc';
import { Table, toJS, type Value } from '../../../src/serialization/value';
import { curl, rawExchange, requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { TestHost } from '../../helpers/test-host';

async function server(t: TestContext, setup: (h: TestHost) => void, files: Record<string, string | null> = { 'app/x.txt': 'x' }): Promise<{ s: HTTPTestServer; host: TestHost }> {
  let host!: TestHost;
  const s = await startHTTP({
    dir: tempWWW(files),
    host: (ctx) => {
      host = new TestHost(ctx.wwwDir);
      setup(host);
      return host;
    },
  });
  t.after(() => s.stop());
  return { s, host };
}

/** `add(a, b)` as a Lua app would define it, plus an echo of its arguments. */
function calculator(h: TestHost): void {
  h.methods.add = (_c, args) => {
    const [a, b] = args.length === 1 && args[0] instanceof Table ? [args[0].get('a'), args[0].get('b')] : args;
    return [Number(a) + Number(b)];
  };
  h.methods.echo = (_c, args) => args;
  h.methods.fail = () => {
    throw new CallFailed('main.lua:3: boom');
  };
  h.methods.nothing = () => [];
}

test('GET /app/method: query table or bare tokens as arguments, JSON reply; unknown → 404', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const { s } = await server(t, calculator);
  let r = await curl([s.url('app/add?a=2&b=40')]);
  assert.equal(r.status, 200);
  assert.match(r.headers, /Content-Type: application\/json/i);
  assert.deepEqual(JSON.parse(r.body.toString()), [42]);
  r = await curl([s.url('app/echo?1&2&x')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [1, 2, 'x']);
  r = await curl([s.url('app/nothing')]);
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 0);
  r = await curl([s.url('app/fail')]);
  assert.equal(r.status, 500);
  assert.match(r.body.toString(), /boom/);
  r = await curl([s.url('app/nomethod')]);
  assert.equal(r.status, 404);
});

test('POST in JSON, XML-RPC, form and AMF bodies calls the same method and answers in the same format', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const { s } = await server(t, calculator);
  // JSON: URL names the method, body holds the arguments
  let r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[20, 22]', s.url('app/add')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [42]);
  // JSON: POST to the app, body [method, args…]
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '["add", 1, 2]', s.url('app/')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [3]);
  // XML-RPC methodCall
  const call = '<?xml version="1.0"?><methodCall><methodName>add</methodName><params><param><value><int>40</int></value></param><param><value><double>2.5</double></value></param></params></methodCall>';
  r = await curl(['-H', 'Content-Type: text/xml', '--data-binary', call, s.url('app/')]);
  assert.match(r.headers, /Content-Type: text\/xml/i);
  assert.deepEqual(decodeXMLRPC(r.body).params, [42.5]);
  // XML-RPC fault for a script error
  const failing = '<?xml version="1.0"?><methodCall><methodName>fail</methodName></methodCall>';
  r = await curl(['-H', 'Content-Type: text/xml', '--data-binary', failing, s.url('app/')]);
  assert.match(decodeXMLRPC(r.body).fault?.message ?? '', /boom/);
  // form body
  r = await curl(['--data', 'a=30&b=12', s.url('app/add')]);
  assert.match(r.headers, /Content-Type: application\/x-www-form-urlencoded/i);
  assert.equal(r.body.toString(), '42');
  // AMF0 body
  r = await curl(['-H', 'Content-Type: application/x-amf', '--data-binary', '@-', s.url('app/')], encodeAMF0('add', 2, 3));
  assert.deepEqual(decodeAMF0(r.body), [5]);
  // malformed bodies: 400, and the server keeps serving
  for (const [type, body] of [['application/json', '[1,'], ['text/xml', '<methodCall><oops>'], ['application/x-amf', '\x11\xff']]) {
    r = await curl(['-H', `Content-Type: ${type}`, '--data-binary', body, s.url('app/add')]);
    assert.equal(r.status, 400, type);
  }
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[1, 1]', s.url('app/add')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [2]);
});

test('raw JSON data without a method goes to onMessage; writer output joins the reply', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const { s } = await server(t, (h) => {
    h.message = (c, args) => {
      c.writer.writeMessage(['pushed']);
      return [args.length, ...args];
    };
  });
  const r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[1, {"k": true}]', s.url('app/')]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['pushed', 2, 1, { k: true }]);
});

test('cookies: request cookies are client properties, script-set cookies come back, negative expiry deletes', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const seen: Value[] = [];
  const { s } = await server(t, (h) => {
    h.methods.login = (c) => {
      c.setCookie('session', 'abc 123', Table.of({ path: '/', httponly: true, expires: 3600 }));
      c.setCookie('old', 'x', Table.of({ expires: -1 }));
      return ['ok'];
    };
    h.methods.whoami = (c) => {
      seen.push(c.properties.get('session'));
      return [c.properties.get('session')];
    };
  });
  const jar = `${s.dir}/cookies.txt`;
  let r = await curl(['-c', jar, s.url('app/login')]);
  assert.match(r.headers, /Set-Cookie: session=abc%20123; Expires=[^;]+; Path=\/; HttpOnly/i);
  assert.match(r.headers, /Set-Cookie: old=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0/i);
  r = await curl(['-b', jar, s.url('app/whoami')]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['abc 123']);
  assert.deepEqual(seen, ['abc 123']);
});

test('onRead: refusal, redirection, templates on text only, custom responses', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const { s } = await server(
    t,
    (h) => {
      h.read = (c, file, params) => {
        if (file === 'secret.txt') throw new CallFailed('not for you');
        if (file === 'old.html') return { file: 'new.html', template: null };
        if (file === 'page.html' || file === 'data.bin') return { file, template: Table.of({ name: String(params.get('name') ?? 'nobody'), n: 10 / 2 }) };
        if (file === 'custom') {
          c.writer.writeRaw(Buffer.from('<b>made by script</b>'));
          return { file: null, template: null };
        }
        if (file === 'escape') return { file: '../outside.txt', template: null };
        return { file, template: null };
      };
    },
    { 'app/secret.txt': 's', 'app/new.html': 'NEW', 'app/page.html': '<p>Hello <% name %>, <%n%> <% missing %>!</p>', 'app/data.bin': '<% name %>', 'outside.txt': 'OUT' },
  );
  let r = await curl([s.url('app/secret.txt')]);
  assert.equal(r.status, 403);
  assert.match(r.body.toString(), /not for you/);
  assert.equal((await curl([s.url('app/old.html')])).body.toString(), 'NEW');
  assert.equal((await curl([s.url('app/page.html?name=Ann')])).body.toString(), '<p>Hello Ann, 5 !</p>');
  assert.equal((await curl([s.url('app/data.bin')])).body.toString(), '<% name %>');
  r = await curl([s.url('app/custom')]);
  assert.equal(r.body.toString(), '<b>made by script</b>');
  r = await curl([s.url('app/escape')]);
  assert.equal(r.status, 403);
});

test('a path or query change on a kept-alive connection is a new client', async (t) => {
  const { s, host } = await server(t, calculator, { 'app/x.txt': 'x', 'other/y.txt': 'y' });
  const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const out = (await rawExchange(s.port, [req('/app/x.txt'), req('/app/x.txt'), req('/app/x.txt?v=2'), req('/other/y.txt')])).toString();
  assert.equal(out.split('HTTP/1.1 200 OK').length, 5);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(host.events, [
    'connect HTTP /app?',
    'disconnect HTTP /app?',
    'connect HTTP /app?v=2',
    'disconnect HTTP /app?v=2',
    'connect HTTP /other?',
    'disconnect HTTP /other?',
  ]);
  assert.equal(toJS(null), null);
});

test('onConnection refusal answers 403 and nonexistent apps 404', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const { s } = await server(t, (h) => {
    h.connection = (c) => {
      if (c.properties.get('user') === 'bad') throw new (require('../../../src/core/errors').ConnectionRejected)('go away');
      return null;
    };
  });
  let r = await curl([s.url('app/x.txt?user=bad')]);
  assert.equal(r.status, 403);
  assert.match(r.body.toString(), /go away/);
  r = await curl([s.url('nothere/x.txt')]);
  assert.equal(r.status, 404);
});
