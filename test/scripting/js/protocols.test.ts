/**
 * JavaScript and TypeScript apps through real protocols and real clients: RTMP (our client;
 * ffmpeg publishing into a JS-watched publication), WebSocket (the `ws` package), HTTP (curl); async
 * RPCs answered when they settle, in call order where the protocol has no call ids; hot reload
 * while serving; the bundled sample's TypeScript type-checked against its declarations; and the
 * real executable: a script's rejected Promise logged without harm, a runaway handler reported
 * with its file:line before the server exits.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { Table } from '../../../src/serialization/value';
import { curl, requireTool, startHTTP, tempWWW } from '../../helpers/http-server';
import { freePorts, startCli, tempDir, writeIni } from '../../process/helpers';
import { needTool, run, startRTMP, testFLV, waitFor, type ToolRun } from '../../protocols/rtmp/helpers';
import { rewriteFile } from '../lua-fixtures';

const ROOT_TS = `
import type { Client, Publication } from 'monats';

let published = '', packets = 0, bytes = 0, keyFrames = 0, unpublished = '';

export function onConnection(client: Client, login?: string): { message: string } {
  if (login === 'intruder') throw new Error('you are not Tom!');
  client.add = (a: any, b?: number) => (typeof a === 'object' && a !== null ? a.a + a.b : a + (b as number));
  client.version = () => 'v1';
  client.fail = () => { throw new Error('boom'); };
  client.slow = async (ms: number, value: unknown) => {
    await new Promise((r) => setTimeout(r, ms));
    return value;
  };
  client.slowFail = async () => { await new Promise((r) => setTimeout(r, 20)); throw new Error('late boom'); };
  client.hello = (name: string) => {
    client.writer.writeInvocation('onPush', 'pushed to ' + name);
    return 'Hello ' + name;
  };
  client.onPublish = (publication: Publication) => {
    published = publication.name;
    publication.onVideo = (_time, packet) => {
      packets++;
      bytes += packet.length;
      if (packet[0] === 0x17) keyFrames++;
    };
  };
  client.onUnpublish = (publication: Publication) => { unpublished = publication.name; };
  client.stats = () => [published, packets, bytes, keyFrames, unpublished];
  client.login = (name: string) => client.properties('user', name, { path: '/', expires: 3600 });
  client.whoami = () => client.properties.user;
  client.onRead = (file: string, params: Record<string, unknown>) => {
    if (file === 'page.html') return [file, { who: params.who ?? 'stranger' }];
    if (file === 'secret.html') throw new Error('not for you');
    return undefined;
  };
  return { message: 'welcome' };
}
`;

function apps(): string {
  return tempWWW({ 'main.ts': ROOT_TS, 'live/.keep': '', 'page.html': '<p>Hi <% who %></p>', 'secret.html': 'secret', 'plain.html': 'plain' });
}

async function connected(port: number, app: string, args: unknown[] = []): Promise<{ c: RTMPClient; info: Table; name: string }> {
  const c = new RTMPClient({ port });
  await c.handshake();
  const r = await c.connect(app, {}, args as never[], port);
  return { c, info: r.args[1] as Table, name: r.name };
}

test('RTMP: a TypeScript app accepts and rejects, answers RPCs (async ones when they settle) and Call.Failed; hot reload', async (t) => {
  const dir = apps();
  const s = await startRTMP({ dir });
  const clients: RTMPClient[] = [];
  t.after(async () => {
    for (const c of clients) c.socket.destroy();
    await s.stop();
  });
  const { c, info, name } = await connected(s.port, '', ['Tom']);
  clients.push(c);
  assert.equal(name, '_result');
  assert.equal(info.get('code'), 'NetConnection.Connect.Success');
  assert.equal(info.get('message'), 'welcome');
  assert.equal((await c.call('add', [40, 2])).args[1], 42);
  // an async call and a quick one after it: each answers its own transaction, the quick one first
  const order: string[] = [];
  const slow = c.call('slow', [150, 'slow value']).then((r) => (order.push('slow'), r));
  const quick = c.call('add', [1, 1]).then((r) => (order.push('quick'), r));
  const [slowR, quickR] = await Promise.all([slow, quick]);
  assert.deepEqual([slowR.name, slowR.args[1], quickR.args[1]], ['_result', 'slow value', 2]);
  assert.deepEqual(order, ['quick', 'slow']);
  const failed = await c.call('fail', []);
  assert.equal(failed.name, '_error');
  assert.equal((failed.args[1] as Table).get('code'), 'NetConnection.Call.Failed');
  assert.equal((failed.args[1] as Table).get('description'), 'www/main.ts:10: boom');
  const late = await c.call('slowFail', []);
  assert.equal(late.name, '_error');
  assert.equal((late.args[1] as Table).get('description'), 'www/main.ts:15: late boom');

  const rejected = await connected(s.port, '', ['intruder']);
  clients.push(rejected.c);
  assert.equal(rejected.name, '_error');
  assert.equal(rejected.info.get('code'), 'NetConnection.Connect.Rejected');
  assert.equal(rejected.info.get('description'), 'you are not Tom!');

  rewriteFile(dir, 'www/main.ts', ROOT_TS.replace("'v1'", "'v2'"));
  await new Promise((r) => setTimeout(r, 1100)); // the next use after a second looks at main.ts
  const again = await connected(s.port, '', ['Tom']);
  clients.push(again.c);
  assert.equal((await again.c.call('version', [])).args[1], 'v2');
});

test('RTMP + ffmpeg: onPublish in TypeScript and publication.onVideo for every packet', async (t) => {
  if (!needTool(t, 'ffmpeg')) return;
  const s = await startRTMP({ dir: apps() });
  const runs: ToolRun[] = [];
  const clients: RTMPClient[] = [];
  t.after(async () => {
    for (const r of runs) r.kill();
    for (const c of clients) c.socket.destroy();
    await s.stop();
  });
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(3), '-c', 'copy', '-f', 'flv', s.url('live/js1')], 40_000);
  runs.push(pub);
  const done = await pub.done;
  assert.equal(done.code, 0, done.stderr);
  const { c } = await connected(s.port, 'live');
  clients.push(c);
  await waitFor(() => s.context.publications.get('js1') === undefined, 10_000, 'publication ends');
  const [published, packets, bytes, keys, unpublished] = ((await c.call('stats', [])).args[1] as Table).items;
  assert.equal(published, 'js1');
  assert.equal(unpublished, 'js1');
  assert.ok(typeof packets === 'number' && packets >= 60, `video packets seen by the script: ${packets}`);
  assert.ok(typeof bytes === 'number' && bytes > 10_000, `video bytes seen by the script: ${bytes}`);
  assert.ok(typeof keys === 'number' && keys >= 1, `key frames seen by the script: ${keys}`);
});

async function httpServer(t: TestContext) {
  const s = await startHTTP({ dir: apps() });
  t.after(() => s.stop());
  return s;
}

test('HTTP with curl: GET, JSON and form POSTs call the same JS function; an async one answers the request when it settles', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await httpServer(t);
  let r = await curl([s.url('add?a=1&b=2')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [3]);
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[2, 3]', s.url('add')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [5]);
  r = await curl(['--data', 'a=2&b=5', s.url('add')]);
  assert.equal(r.body.toString(), '7');
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[50, {"done": true}]', s.url('slow')]);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body.toString()), [{ done: true }]);
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[]', s.url('slowFail')]);
  assert.equal(r.status, 500);
  assert.match(r.body.toString(), /www\/main\.ts:15: late boom/);
  // onRead: [file, values] fills the page's template, a throw refuses, nothing serves the file
  r = await curl([s.url('page.html?who=JS')]);
  assert.equal(r.body.toString(), '<p>Hi JS</p>');
  r = await curl([s.url('secret.html')]);
  assert.notEqual(r.status, 200);
  assert.doesNotMatch(r.body.toString(), /^secret$/);
  r = await curl([s.url('plain.html')]);
  assert.equal(r.body.toString(), 'plain');
  // cookies: client.properties(key, value, options) is callable from JS as from Lua
  const jar = path.join(s.dir, 'jar.txt');
  r = await curl(['-c', jar, s.url('login?ann')]);
  assert.match(r.headers, /Set-Cookie: user=ann/i);
  r = await curl(['-b', jar, s.url('whoami')]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['ann']);
  // two requests on one connection: the second waits for the async first, answers keep their order
  const both = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[120, "first"]', s.url('slow'), '--next', s.url('add?a=1&b=1')]);
  assert.equal(both.body.toString(), '["first"][2]');
});

test('WebSocket with ws: RPC, pushes, and replies in call order behind an async call', async (t) => {
  const s = await httpServer(t);
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`);
  t.after(() => ws.close());
  const messages: unknown[] = [];
  let notify = () => {};
  ws.on('message', (m) => {
    messages.push(JSON.parse(m.toString()));
    notify();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${messages.length} messages: ${JSON.stringify(messages)}`)), 10_000);
      notify = () => {
        if (messages.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      notify();
    });
  ws.send(JSON.stringify(['hello', 'ws']));
  await until(2);
  assert.deepEqual(messages, [['onPush', 'pushed to ws'], ['Hello ws']]);
  ws.send(JSON.stringify(['slow', 100, 'late']));
  ws.send(JSON.stringify(['add', 20, 22]));
  ws.send(JSON.stringify(['fail']));
  await until(5);
  assert.deepEqual(messages.slice(2), [['late'], [42], ['__error', 'www/main.ts:10: boom']]);
});

test('the bundled sample\'s TypeScript type-checks against www/monats.d.ts; a wrong call does not', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const repoWWW = path.join(__dirname, '..', '..', '..', '..', 'www');
  const check = (files: Record<string, string>): string[] => {
    const dir = tempDir('monats-tscheck-');
    try {
      fs.cpSync(repoWWW, dir, { recursive: true });
      for (const [rel, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), content);
      // @types/node of this repository: a user's editor finds theirs in their node_modules
      const typeRoots = [path.join(__dirname, '..', '..', '..', '..', 'node_modules', '@types')];
      const config = ts.getParsedCommandLineOfConfigFile(path.join(dir, 'tsconfig.json'), { typeRoots }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
      assert.ok(config && config.fileNames.some((f) => f.endsWith('chat/main.ts')), 'the sample tsconfig finds the sample apps');
      const program = ts.createProgram(config.fileNames, config.options);
      return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? path.relative(dir, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  assert.deepEqual(check({}), []);
  const wrong = check({ 'wrong.ts': `import { mona } from 'monats';\nexport function onStart(path: string) { mona.clients.count.toFixed(); mona.time('x'); data.x = 1; app.super?.path.length; }\n` });
  assert.equal(wrong.length, 1, wrong.join('\n'));
  assert.match(wrong[0], /^wrong\.ts: Expected 0 arguments, but got 1/);
});

test('the real executable: a script\'s rejected Promise is logged and the server goes on; a runaway handler is reported with its file:line, then the server exits 70', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const dir = tempDir('monats-js-process-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'www', 'main.js'),
    `export function onConnection(client) {
  client.reject = () => { Promise.reject(new Error('nobody waits for me')); return 'ok'; };
  client.spin = () => {
    let i = 0;
    while (true) { i++; }
  };
}
`,
  );
  const ports = await freePorts();
  writeIni(dir, ports);
  const server = startCli([`--config=${path.join(dir, 'MonaServer.ini')}`, '--log=6'], dir);
  t.after(() => server.kill());
  await server.waitFor(/HTTP server started/);
  let r = await curl([`http://127.0.0.1:${ports.http}/reject`]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['ok']);
  await server.waitFor(/www\/main\.js:2.*nobody waits for me/);
  r = await curl([`http://127.0.0.1:${ports.http}/reject`]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['ok'], 'still serving');
  // the budget is 10 s: the server stops itself a little after
  void curl(['-m', '30', `http://127.0.0.1:${ports.http}/spin`]).catch(() => undefined);
  assert.equal(await server.exited, 70);
  assert.match(server.output(), /www\/main\.js:5.*JavaScript spin still running after 10000 ms/);
});
