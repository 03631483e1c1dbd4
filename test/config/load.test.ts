import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { listenHost } from '../../src/config/listen';
import { loadConfig } from '../../src/registry';
import { tempDir as makeTempDir } from '../helpers/temp';

function tempDir(): string {
  return makeTempDir('monats-config-');
}

test('no MonaServer.ini: every S1 default, application dir = working directory', () => {
  const dir = tempDir();
  const r = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(r.found, false);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.fatal, undefined);
  const c = r.config;
  assert.equal(c.host, '');
  assert.equal(c.socketBufferSize, 0);
  assert.equal(c.threads, 0);
  assert.equal(c.application.dir, dir);
  assert.deepEqual(c.servers, { port: 0, targets: '', secret: '' });
  assert.deepEqual(c.rtmfp, { port: 1935, keepaliveServer: 15, keepalivePeer: 10 });
  assert.deepEqual(c.rtmp, { port: 1935, rtmpeRate: 10 });
  assert.deepEqual(c.http, { port: 80, timeout: 7, index: '', headerTimeout: 10 });
  assert.deepEqual(c.rtsp, { port: 554 });
  assert.deepEqual(c.websocket, { timeout: 120 });
  assert.deepEqual(c.tcp, { maxConnections: -1, maxConnectionsPerIP: 1000, outputLimit: 1024 * 1024, stallTimeout: 15 });
  assert.deepEqual(c.logs, { directory: path.join(dir, 'logs'), name: 'log', rotation: 10, maxSize: 1_000_000 });
  assert.deepEqual(c.raw, {});
});

test('every key read case-insensitively; MonaServer doc sample', () => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'MonaServer.ini'),
    [
      ';MonaServer.ini',
      'HOST = example.com:1936',
      'socketBufferSize = 114688',
      'threads=3',
      '[Application]',
      'DIR = app',
      '[servers]',
      'port=1936',
      'targets=192.168.0.2:1936?name=master&arg=val;192.168.0.3:1936',
      '[RTMFP]',
      'port = 1985',
      'keepAlivePeer = 11',
      'keepAliveServer = 16',
      '[rtmp]',
      'PORT=0',
      '[HTTP]',
      'port=8080',
      'timeout=9',
      'index=index.html',
      '[RTSP]',
      'port=0',
      '[WebSocket]',
      'timeout=60',
      '[logs]',
      'name=mona',
      'directory=journal',
      'rotation=3',
      'maxSize=5000',
    ].join('\n'),
  );
  const r = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(r.found, true);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings.filter((w) => !/ is not in effect: /.test(w)), []);
  const c = r.config;
  assert.equal(c.host, 'example.com:1936');
  assert.equal(c.socketBufferSize, 114688);
  assert.equal(c.threads, 3);
  assert.equal(c.application.dir, path.join(dir, 'app'));
  assert.deepEqual(c.servers, { port: 1936, targets: '192.168.0.2:1936?name=master&arg=val;192.168.0.3:1936', secret: '' });
  assert.deepEqual(c.rtmfp, { port: 1985, keepaliveServer: 16, keepalivePeer: 11 });
  assert.equal(c.rtmp.port, 0);
  assert.deepEqual(c.http, { port: 8080, timeout: 9, index: 'index.html', headerTimeout: 10 });
  assert.equal(c.rtsp.port, 0);
  assert.equal(c.websocket.timeout, 60);
  assert.deepEqual(c.logs, { directory: path.join(dir, 'app', 'journal'), name: 'mona', rotation: 3, maxSize: 5000 });
});

test('[TCP] limits and [HTTP] headerTimeout are read, bad values keep the default', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), '[tcp]\nMaxConnections=500\nmaxconnectionsperip=0\noutputLimit=65536\nstallTimeout=2.5\n[HTTP]\nheaderTimeout=4\n');
  let r = loadConfig(undefined, {}, { cwd: dir });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config.tcp, { maxConnections: 500, maxConnectionsPerIP: 0, outputLimit: 65536, stallTimeout: 2.5 });
  assert.equal(r.config.http.headerTimeout, 4);
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), '[TCP]\noutputLimit=100\nmaxConnections=-2\n');
  r = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(r.errors.length, 2, r.errors.join('\n'));
  assert.equal(r.config.tcp.outputLimit, 1024 * 1024);
  assert.equal(r.config.tcp.maxConnections, -1);
});

test('keepalives out of 5..255 are clamped with a warning naming file and line', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), '[RTMFP]\nkeepalivePeer=2\nkeepaliveServer=300\n');
  const r = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(r.config.rtmfp.keepalivePeer, 5);
  assert.equal(r.config.rtmfp.keepaliveServer, 255);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0], /^MonaServer\.ini:2: RTMFP\.keepalivePeer: 2 is out of range 5\.\.255, using 5$/);
  assert.match(r.warnings[1], /^MonaServer\.ini:3: .*using 255$/);
});

test('bad values and malformed lines: errors with file:line, defaults kept, the rest still read', () => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'custom.ini'),
    ['[RTMP]', 'port=70000', '[HTTP', 'port=abc', '[RTMFP]', 'port = 1985', 'oops', '[logs]', 'name=../x', 'rotation=-1'].join('\n'),
  );
  const r = loadConfig('custom.ini', {}, { cwd: dir, required: true });
  assert.equal(r.fatal, undefined);
  assert.equal(r.config.rtmp.port, 1935);
  assert.equal(r.config.rtmfp.port, 1985);
  assert.equal(r.config.logs.name, 'log');
  assert.equal(r.config.logs.rotation, 10);
  const lines = r.errors.map((e) => /^custom\.ini:(\d+): /.exec(e)?.[1]);
  assert.deepEqual(lines, ['2', '3', '7', '9', '10']);
  assert.ok(r.errors.some((e) => e.includes('custom.ini:2: RTMP.port: 70000 is not a port number')));
  assert.match(r.errors[1], /^custom\.ini:3: section header "\[HTTP" has no closing '\]', its keys up to the next section are ignored$/);
  // "port=abc" under the broken header went nowhere (not into [RTMP])
  assert.deepEqual(r.config.raw.RTMP, { port: '70000' });
  assert.equal(r.config.http.port, 80);
});

test('port 0 disables; overrides win over the file; explicit missing --config is fatal', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), '[RTMP]\nport=1935\n');
  const r = loadConfig(undefined, { 'rtmp.port': '0', 'application.dir': 'other', host: 'h' }, { cwd: dir });
  assert.equal(r.config.rtmp.port, 0);
  assert.equal(r.config.host, 'h');
  assert.equal(r.config.application.dir, path.join(dir, 'other'));
  const missing = loadConfig('nope.ini', {}, { cwd: dir, required: true });
  assert.match(missing.fatal ?? '', /cannot read configuration .*nope\.ini \(no such file\)/);
});

test('relative application dir is taken from the ini folder, logs dir from the application dir', () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc', 'mona.ini'), '[application]\ndir=../srv\n[logs]\ndirectory=/abs/logs\n');
  const r = loadConfig('etc/mona.ini', {}, { cwd: dir, required: true });
  assert.equal(r.config.application.dir, path.join(dir, 'srv'));
  assert.equal(r.config.logs.directory, '/abs/logs');
});

test('raw keeps unknown sections/keys for mona.configs; section reachable lower-cased too', () => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'MonaServer.ini'),
    'port=12\nmyKey = my value\n[myGroup]\nmyConfig=1\nMYCONFIG=2\n[RTMFP]\nport=1935\n[mygroup]\nother=x\n',
  );
  const r = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(r.config.raw.port, '12');
  assert.equal(r.config.raw.myKey, 'my value');
  const group = r.config.raw.myGroup as Record<string, string>;
  assert.deepEqual(group, { MYCONFIG: '2', other: 'x' });
  assert.equal(r.config.raw.mygroup, group);
  assert.equal(r.config.raw.rtmfp, r.config.raw.RTMFP);
  assert.ok(r.warnings.some((w) => /MonaServer\.ini:5: myGroup\.MYCONFIG repeats line 4/.test(w)));
});

test('listenHost: [protocol] host binds, 0.0.0.0 by default, top-level host is not a bind address', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), 'host=public.example.com:1936\n[rtmp]\nHost = 127.0.0.1\n[HTTP]\nhost=\n');
  const { config } = loadConfig(undefined, {}, { cwd: dir });
  assert.equal(listenHost(config, 'RTMP'), '127.0.0.1');
  assert.equal(listenHost(config, 'HTTP'), '0.0.0.0');
  assert.equal(listenHost(config, 'RTMFP'), '0.0.0.0');
});

test('keys read but not acted on yet are reported once, with why, when the ini sets them', () => {
  const dir = tempDir();
  try {
    fs.writeFileSync(path.join(dir, 'MonaServer.ini'), 'threads = 4\n[RTSP]\nport = 555\n');
    const r = loadConfig(undefined, {}, { cwd: dir });
    assert.equal(r.config.threads, 4);
    const inert = r.warnings.filter((w) => /not in effect/.test(w));
    assert.equal(inert.length, 1, 'threads is in effect, RTSP is not');
    assert.match(inert[0], /MonaServer\.ini:3: \S*port is not in effect: /i);
    assert.equal(loadConfig(undefined, {}, { cwd: fs.mkdtempSync(path.join(dir, 'empty-')) }).warnings.length, 0, 'defaults warn about nothing');
    fs.writeFileSync(path.join(dir, 'MonaServer.ini'), '[RTSP]\nport = 0\n');
    assert.deepEqual(loadConfig(undefined, {}, { cwd: dir }).warnings, [], 'port 0 asks for RTSP off: nothing to warn about');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
