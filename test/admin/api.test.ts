/**
 * The admin API handlers called directly (no listener): every route, the JSON they answer, the
 * actions (kick, close), the password (Basic and bearer), the Host and Origin rules, errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { createAdminHandler, type AdminSource } from '../../src/admin/api';
import type { AdminRequest, AdminResponse } from '../../src/admin/http';
import { ProcessMonitor } from '../../src/admin/process-monitor';
import { audioCodecOf, videoCodecOf } from '../../src/admin/views';
import { defaultConfig } from '../../src/registry';
import { FolderHost } from '../../src/core/app-host';
import { Client } from '../../src/core/client';
import { ServerContext } from '../../src/core/context';
import { PeerServer } from '../../src/core/servers';
import type { MediaSink } from '../../src/core/listener';
import { Writer } from '../../src/core/writer';
import { ServerLogger } from '../../src/logs/logger';
import { Level } from '../../src/logs/levels';
import { Table, type Value } from '../../src/serialization/value';
import { tempDir } from '../helpers/temp';

class RecordingWriter extends Writer {
  statuses: string[] = [];
  writeInvocation(): void {}
  writeMessage(_args: Value[]): void {}
  writeRaw(): void {}
  writeStatusResponse(code: string, description?: string): void {
    this.statuses.push(`${code}: ${description}`);
  }
  flush(): void {}
  newWriter(): Writer {
    return this;
  }
}

class FakeClient extends Client {
  readonly protocol = 'RTMP';
  closedWith: string | null = null;
  readonly w = new RecordingWriter();
  get writer(): Writer {
    return this.w;
  }
  close(reason = 'closed'): void {
    this.closedWith = reason;
  }
}

class NullSink implements MediaSink {
  writeMedia(): void {}
  onPublicationStart(): void {}
  onPublicationStop(): void {}
  flush(): void {}
  queuedBytes(): number {
    return 0;
  }
  close(): void {}
}

function setup(password = '') {
  const dir = tempDir('monats-admin-');
  fs.mkdirSync(path.join(dir, 'www', 'live', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'main.lua'), '');
  fs.writeFileSync(path.join(dir, 'www', 'live', 'main.js'), '');
  fs.mkdirSync(path.join(dir, 'www', '.hidden'));
  const config = defaultConfig(dir);
  config.admin.password = password;
  const logger = new ServerLogger({ console: null, level: Level.NONE });
  const ctx = new ServerContext(config, logger, new FolderHost(path.join(dir, 'www')), '1.2.3');
  const monitor = new ProcessMonitor();
  const source: AdminSource = {
    context: ctx,
    configFile: { path: path.join(dir, 'MonaServer.ini'), found: false },
    listening: () => [{ protocol: 'RTMP', addresses: ['0.0.0.0:1935 (TCP)'] }],
    processSnapshot: () => monitor.snapshot(),
  };
  const handler = createAdminHandler(source);
  const call = async (method: string, target: string, headers: Record<string, string> = {}): Promise<AdminResponse> => {
    const q = target.indexOf('?');
    const request: AdminRequest = {
      method,
      path: q < 0 ? target : target.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
      headers: { host: '127.0.0.1:9997', ...headers },
      body: Buffer.alloc(0),
    };
    return handler(request);
  };
  const body = (r: AdminResponse) => JSON.parse(String(r.body)) as any;
  return { ctx, call, body, dir };
}

function connect(ctx: ServerContext, address: string, app = '/live'): FakeClient {
  const c = new FakeClient(address, undefined, { bytesRead: 1000, bytesWritten: 20 });
  c.path = app;
  ctx.connect(c, []);
  return c;
}

test('GET /v1/server: version, uptime, listening, ports, counts', async () => {
  const { ctx, call, body } = setup();
  connect(ctx, '10.0.0.1:1');
  const r = await call('GET', '/v1/server');
  assert.equal(r.status, 200);
  assert.match(r.headers['Content-Type'], /^application\/json/);
  const s = body(r);
  assert.equal(s.product, 'monats');
  assert.equal(s.version, '1.2.3');
  assert.equal(typeof s.uptime, 'number');
  assert.equal(s.pid, process.pid);
  assert.deepEqual(s.listening, [{ protocol: 'RTMP', addresses: ['0.0.0.0:1935 (TCP)'] }]);
  assert.deepEqual(s.ports, { rtmfp: 1935, rtmp: 1935, http: 80, rtsp: 554, servers: 0, admin: 9997 });
  assert.equal(s.clients, 1);
  assert.equal(s.configuration, null, 'no ini found');
  assert.equal(s.totals.RTMP.connections, 1);
  assert.ok(s.memory.rss > 0);
});

test('clients and publications: who publishes and plays what, codecs, bit rates, listeners, QoS', async () => {
  const { ctx, call, body } = setup();
  const publisher = connect(ctx, '10.0.0.1:1');
  const player = connect(ctx, '10.0.0.2:2');
  const pub = ctx.publications.publish(publisher, 'cam/1');
  pub.setMetadata(null, Table.of({ width: 1280, height: 720, encoder: 'test', nested: new Table() }));
  pub.pushVideo(0, Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64])); // AVC sequence header
  pub.pushAudio(0, Buffer.from([0xaf, 0x00, 0x12, 0x10])); // AAC config
  ctx.publications.subscribe(player, 'cam/1', new NullSink());
  pub.pushVideo(40, Buffer.concat([Buffer.from([0x17, 0x01, 0, 0, 0]), Buffer.alloc(995)]));

  const clients = body(await call('GET', '/v1/clients'));
  assert.equal(clients.length, 2);
  const p = clients.find((c: any) => c.id === publisher.id);
  assert.deepEqual(
    { protocol: p.protocol, address: p.address, app: p.app, publishing: p.publishing, playing: p.playing, bytesIn: p.bytesIn },
    { protocol: 'RTMP', address: '10.0.0.1:1', app: '/live', publishing: ['cam/1'], playing: [], bytesIn: 1000 },
  );
  assert.ok(Date.parse(p.since) <= Date.now());
  const one = body(await call('GET', `/v1/clients/${player.id.toUpperCase()}`));
  assert.deepEqual(one.playing, ['cam/1']);
  assert.equal((await call('GET', '/v1/clients/abc')).status, 404);

  const list = body(await call('GET', '/v1/publications'));
  assert.equal(list.length, 1);
  const v = body(await call('GET', '/v1/publications/cam%2F1'));
  assert.equal(v.name, 'cam/1');
  assert.equal(v.app, '/live');
  assert.equal(v.running, true);
  assert.deepEqual(v.publisher, { id: publisher.id, protocol: 'RTMP', address: '10.0.0.1:1' });
  assert.deepEqual(v.codecs, { video: 'H.264', audio: 'AAC' });
  assert.equal(v.listeners, 1);
  assert.equal(v.bytesIn, 7 + 4 + 1000);
  assert.equal(v.qos.video.bytes, 1007);
  assert.equal(typeof v.bitrateIn, 'number');
  assert.equal(typeof v.bitrateOut, 'number');
  assert.deepEqual(v.metadata, { width: 1280, height: 720, encoder: 'test' }, 'scalar metadata only');
  assert.equal(v.listenersDetail[0].client, player.id);
  assert.equal(v.listenersDetail[0].bytes, 7 + 4 + 1000, 'the late joiner got the configs then the key frame');
  assert.equal((await call('GET', '/v1/publications/nope')).status, 404);
});

test('POST /v1/clients/<id>/kick closes the client; POST /v1/publications/<name>/close unpublishes and tells the publisher', async () => {
  const { ctx, call, body } = setup();
  const c = connect(ctx, '10.0.0.1:1');
  const r = await call('POST', `/v1/clients/${c.id}/kick`);
  assert.equal(r.status, 200);
  assert.deepEqual(body(r), { kicked: c.id });
  assert.equal(c.closedWith, 'kicked by the administrator');
  assert.equal((await call('POST', '/v1/clients/0000/kick')).status, 404);
  assert.equal((await call('GET', `/v1/clients/${c.id}/kick`)).status, 405, 'an action is a POST');

  const pub = ctx.publications.publish(c, 'live one');
  const closed = await call('POST', '/v1/publications/live%20one/close');
  assert.equal(closed.status, 200);
  assert.equal(pub.running, false);
  assert.deepEqual(c.w.statuses, ['NetStream.Unpublish.Success: live one closed by the administrator']);
  assert.equal((await call('POST', '/v1/publications/live%20one/close')).status, 404, 'no longer published');
});

test('GET /v1/apps lists the app folders with their scripts and clients; /v1/servers the linked servers', async () => {
  const { ctx, call, body } = setup();
  connect(ctx, '10.0.0.1:1', '/live');
  connect(ctx, '10.0.0.2:1', '/live');
  assert.deepEqual(body(await call('GET', '/v1/apps')), [
    { path: '/', scripts: ['main.lua'], clients: 0 },
    { path: '/live', scripts: ['main.js'], clients: 2 },
    { path: '/live/sub', scripts: [], clients: 0 },
  ]);
  assert.deepEqual(body(await call('GET', '/v1/servers')), []);
  const channel = { send: () => true, sendRaw: () => true, sendApps: () => true, reject: () => {}, queuedBytes: () => 12 };
  const configs = new Map([['name', 'master'], ['host', 'b.example.net'], ['RTMFP.port', '1935'], ['RTMP.port', '0']]);
  ctx.servers.connected(new PeerServer('10.0.0.9:1936', true, configs, { name: 'master' }, channel));
  assert.deepEqual(body(await call('GET', '/v1/servers')), [
    {
      address: '10.0.0.9:1936',
      isTarget: true,
      host: 'b.example.net',
      properties: { name: 'master' },
      ports: { rtmfp: 1935, rtmp: 0, http: 0 },
      queuedBytes: 12,
    },
  ]);
});

test('dashboard, its script and the mpegts.js player are served; unknown paths 404, other methods 405', async () => {
  const { call } = setup();
  const page = await call('GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['Content-Type'], /^text\/html/);
  assert.match(String(page.body), /<script src="\/assets\/mpegts\.js"><\/script>/);
  const script = await call('GET', '/assets/dashboard.js');
  assert.match(String(script.body), /\/v1\/publications/);
  assert.doesNotThrow(() => new Function(String(script.body)), 'the dashboard script parses');
  const player = await call('GET', '/assets/mpegts.js');
  assert.equal(player.status, 200);
  assert.ok(Buffer.isBuffer(player.body) && player.body.length > 100_000);
  assert.match(player.body.toString('latin1', 0, 4000), /mpegts/);
  assert.equal((await call('GET', '/v2/server')).status, 404);
  assert.equal((await call('GET', '/v1/nothing')).status, 404);
  assert.equal((await call('DELETE', '/v1/server')).status, 405);
  assert.equal((await call('GET', '/v1/publications/%E0%A4%A')).status, 400);
  const metrics = await call('GET', '/metrics');
  assert.equal(metrics.headers['Content-Type'], 'text/plain; version=0.0.4; charset=utf-8');
});

test('password: Basic (any user) or bearer token, else 401 with a Basic challenge', async () => {
  const { call, body } = setup('s3cret:é');
  const denied = await call('GET', '/v1/server');
  assert.equal(denied.status, 401);
  assert.match(denied.headers['WWW-Authenticate'], /^Basic realm="monats admin"/);
  assert.equal((await call('GET', '/v1/server', { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await call('GET', '/', { authorization: 'Basic ' + Buffer.from('admin:nope').toString('base64') })).status, 401);
  assert.equal((await call('GET', '/metrics', { authorization: 'Digest x' })).status, 401);
  const basic = await call('GET', '/v1/server', { authorization: 'Basic ' + Buffer.from('anyone:s3cret:é').toString('base64') });
  assert.equal(basic.status, 200);
  assert.equal(body(basic).version, '1.2.3');
  assert.equal((await call('GET', '/metrics', { authorization: 'Bearer s3cret:é' })).status, 200);
  // with a password, any Host is fine (a public name in front of the admin port)
  assert.equal((await call('GET', '/v1/server', { authorization: 'Bearer s3cret:é', host: 'admin.example.com' })).status, 200);
});

test('no password: only requests addressed to an IP or localhost (DNS rebinding); actions only from the same origin', async () => {
  const { ctx, call } = setup();
  assert.equal((await call('GET', '/v1/server', { host: 'evil.example:9997' })).status, 421);
  assert.equal((await call('GET', '/v1/server', { host: 'localhost:9997' })).status, 200);
  assert.equal((await call('GET', '/v1/server', { host: '[::1]:9997' })).status, 200);
  const c = connect(ctx, '10.0.0.1:1');
  const cross = await call('POST', `/v1/clients/${c.id}/kick`, { origin: 'http://evil.example' });
  assert.equal(cross.status, 403);
  assert.equal(c.closedWith, null);
  assert.equal((await call('POST', `/v1/clients/${c.id}/kick`, { origin: 'null' })).status, 403);
  assert.equal((await call('POST', `/v1/clients/${c.id}/kick`, { origin: 'http://127.0.0.1:9997' })).status, 200, 'the dashboard itself');
});

test('codec names from FLV tag bodies: legacy ids and enhanced RTMP FourCCs', () => {
  assert.equal(videoCodecOf(Buffer.from([0x17, 0])), 'H.264');
  assert.equal(videoCodecOf(Buffer.from([0x1c, 0])), 'H.265');
  assert.equal(videoCodecOf(Buffer.from([0x22])), 'Sorenson H.263');
  assert.equal(videoCodecOf(Buffer.from([0x90, 0x68, 0x76, 0x63, 0x31])), 'H.265'); // enhanced: hvc1
  assert.equal(videoCodecOf(Buffer.from([0x90, 0x61, 0x76, 0x30, 0x31])), 'AV1');
  assert.equal(videoCodecOf(Buffer.from([0x90, 0x61])), null);
  assert.equal(audioCodecOf(Buffer.from([0xaf, 0x00])), 'AAC');
  assert.equal(audioCodecOf(Buffer.from([0x2f])), 'MP3');
  assert.equal(audioCodecOf(Buffer.from([0xb2])), 'Speex');
  assert.equal(audioCodecOf(Buffer.from([0x90, 0x4f, 0x70, 0x75, 0x73])), 'Opus');
  assert.equal(audioCodecOf(Buffer.alloc(0)), null);
});
