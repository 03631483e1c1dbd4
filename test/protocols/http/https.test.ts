/**
 * HTTPS and WSS (`[HTTPS] port`, `[TLS] certificat` and `key`) on the server as the CLI runs it,
 * with real clients: curl (OpenSSL) over ECDSA and RSA certificates issued under a test root
 * through an intermediate (so curl verifies only if the chain is sent) fetches files, ranges and
 * RPC; the `ws` package and Debian's chromium (from an https page) talk WSS; clients certificates
 * are asked for when `[TLS] ca` is set. The Lua app sees "HTTPS"/"WSS" and the secure channel's
 * properties, which no query or cookie can forge. A missing or mismatched certificate is one error
 * line naming the file, and the plain ports keep serving.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import { curl, requireTool } from '../../helpers/http-server';
import { tempDir } from '../../helpers/temp';
import { requireOpenSSL, startTLSServer, TestPKI, type TLSTestServer } from '../../helpers/tls';
import { tcpAccepts } from '../../process/helpers';
import { run, sleep, waitFor } from '../rtmp/helpers';

const APP_LUA = `
function onConnection(client)
  function client:who()
    local p = client.properties
    return { protocol = client.protocol, secure = p.secure, version = p.tlsVersion, cipher = p.tlsCipher,
      server = p.tlsServerName, subject = p.tlsClientSubject, issuer = p.tlsClientIssuer, verified = p.tlsClientVerified }
  end
  function client:add(a, b) return a + b end
end
`;

const FILES = { 'hello.txt': 'hello over TLS\n', 'app/main.lua': APP_LUA };

let pki: TestPKI | null = null;
function certificates(): TestPKI {
  return (pki ??= new TestPKI());
}

async function tlsServer(t: TestContext, type: 'ec' | 'rsa', serial: number, extra = ''): Promise<TLSTestServer> {
  const c = certificates().issue({ type, serial });
  return startTLSServer(t, `[TLS]\ncertificat=${c.fullchain}\nkey=${c.key}\n${extra}`, FILES);
}

/** curl to https://localhost:port (SNI "localhost", verified against the test root). */
function secureCurl(s: TLSTestServer, p: string, args: string[] = []) {
  const port = s.ports.https;
  return curl(['--cacert', certificates().rootCert, '--resolve', `localhost:${port}:127.0.0.1`, ...args, `https://localhost:${port}/${p}`]);
}

/** `ws` options for wss://localhost:port: the test root trusted, localhost resolved to 127.0.0.1 only. */
function wssOptions(): WebSocket.ClientOptions {
  const lookup = (_h: string, _o: unknown, cb: (e: null, a: unknown, f?: number) => void) => cb(null, [{ address: '127.0.0.1', family: 4 }], 4);
  return { ca: fs.readFileSync(certificates().rootCert), lookup } as WebSocket.ClientOptions;
}

for (const type of ['ec', 'rsa'] as const) {
  test(`curl over HTTPS (${type === 'ec' ? 'ECDSA' : 'RSA'} certificate with its chain): files, ranges, RPC; plain HTTP beside`, async (t) => {
    if (!requireOpenSSL(t) || !requireTool(t, 'curl')) return;
    const s = await tlsServer(t, type, type === 'ec' ? 0x3001 : 0x3002);
    let r = await secureCurl(s, 'hello.txt', ['-v']);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello over TLS\n');
    r = await secureCurl(s, 'hello.txt', ['-r', '6-9']);
    assert.equal(r.status, 206);
    assert.equal(r.body.toString(), 'over');
    assert.match(r.headers, /Content-Range: bytes 6-9\/15/i);
    // RPC: POST in JSON, GET with arguments in the query
    r = await secureCurl(s, 'app/add', ['-H', 'Content-Type: application/json', '--data', '[2,40]']);
    assert.deepEqual(JSON.parse(r.body.toString()), [42]);
    r = await secureCurl(s, 'app/add?1&2');
    assert.deepEqual(JSON.parse(r.body.toString()), [3]);
    // what the script knows of the channel; a query and a cookie cannot pass for it
    r = await secureCurl(s, 'app/who?secure=false&tlsVersion=forged', ['-H', 'Cookie: tlsCipher=forged; secure=no']);
    const who = JSON.parse(r.body.toString())[0];
    assert.equal(who.protocol, 'HTTPS');
    assert.equal(who.secure, true);
    assert.equal(who.version, 'TLSv1.3');
    assert.equal(who.server, 'localhost');
    assert.match(who.cipher, /^TLS_(AES|CHACHA20)/);
    assert.equal(who.subject, undefined);
    // TLS 1.2 too, with the cipher the certificate type allows
    r = await secureCurl(s, 'app/who', ['--tlsv1.2', '--tls-max', '1.2']);
    const who12 = JSON.parse(r.body.toString())[0];
    assert.equal(who12.version, 'TLSv1.2');
    assert.match(who12.cipher, type === 'ec' ? /^TLS_ECDHE_ECDSA_/ : /^TLS_ECDHE_RSA_/);
    // the plain port: the same files and apps, no secure property, not even one the client sends
    r = await curl([`http://127.0.0.1:${s.ports.http}/app/who?secure=true&tlsVersion=TLSv1.3`, '-H', 'Cookie: tlsClientVerified=true']);
    assert.deepEqual(JSON.parse(r.body.toString()), [{ protocol: 'HTTP' }]);
    r = await curl([`http://127.0.0.1:${s.ports.http}/hello.txt`]);
    assert.equal(r.body.toString(), 'hello over TLS\n');
    assert.match(s.log(), /HTTPS\s+127\.0\.0\.1:\d+ connected to \/app/);
  });
}

test('curl -v: ALPN http/1.1 is chosen when h2 is offered too; keep-alive carries several requests', async (t) => {
  if (!requireOpenSSL(t) || !requireTool(t, 'curl')) return;
  const s = await tlsServer(t, 'ec', 0x3003);
  const port = s.ports.https;
  const url = `https://localhost:${port}/hello.txt`;
  const r = await curl(['-v', '--http2', '--cacert', certificates().rootCert, '--resolve', `localhost:${port}:127.0.0.1`, url, url, url]);
  assert.equal(r.body.toString(), 'hello over TLS\n'.repeat(3));
  const { run } = await import('../../helpers/http-server');
  const v = await run('curl', ['-s', '-v', '-o', '/dev/null', '--http2', '--cacert', certificates().rootCert, '--resolve', `localhost:${port}:127.0.0.1`, url, url]);
  assert.match(v.stderr, /ALPN: server accepted http\/1\.1/);
  assert.match(v.stderr, /Re-using existing connection/i);
});

test('WSS with the ws package: RPC, "WSS" and the channel properties', async (t) => {
  if (!requireOpenSSL(t)) return;
  const s = await tlsServer(t, 'rsa', 0x3004);
  const ws = new WebSocket(`wss://localhost:${s.ports.https}/app?secure=0`, wssOptions());
  t.after(() => ws.terminate());
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = () => new Promise<unknown>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
  ws.send('["add", 20, 22]');
  assert.deepEqual(await next(), [42]);
  ws.send('["who"]');
  const [who] = (await next()) as Array<Record<string, unknown>>;
  assert.equal(who.protocol, 'WSS');
  assert.equal(who.secure, true);
  assert.equal(who.version, 'TLSv1.3');
  assert.equal(who.server, 'localhost');
  assert.match(s.log(), /WSS\s+127\.0\.0\.1:\d+ connected to \/app/);
});

test('client certificates with [TLS] ca: the subject and whether it verified reach the script', async (t) => {
  if (!requireOpenSSL(t) || !requireTool(t, 'curl')) return;
  const p = certificates();
  const alice = p.issue({ serial: 0x3101, cn: 'alice', client: true });
  const mallory = p.issue({ serial: 0x3102, cn: 'mallory', client: true, selfSigned: true });
  const s = await tlsServer(t, 'ec', 0x3005, `ca=${p.rootCert}\n`);
  // alice's certificate needs its intermediate to chain to the root: curl sends the file's chain
  let r = await secureCurl(s, 'app/who', ['--cert', alice.fullchain, '--key', alice.key]);
  let who = JSON.parse(r.body.toString())[0];
  assert.equal(who.subject, 'CN=alice');
  assert.equal(who.issuer, 'CN=monats test intermediate');
  assert.equal(who.verified, true);
  r = await secureCurl(s, 'app/who', ['--cert', mallory.cert, '--key', mallory.key]);
  who = JSON.parse(r.body.toString())[0];
  assert.equal(who.subject, 'CN=mallory');
  assert.equal(who.verified, false);
  // none sent: served, nothing said
  r = await secureCurl(s, 'app/who');
  who = JSON.parse(r.body.toString())[0];
  assert.equal(who.secure, true);
  assert.equal(who.subject, undefined);
});

test('chromium on an https page: fetch RPC and a WSS RPC (ignoreHTTPSErrors for the test root)', { timeout: 90_000 }, async (t) => {
  if (!requireOpenSSL(t)) return;
  if (!fs.existsSync('/usr/bin/chromium')) {
    if (process.env.CI) throw new Error('chromium is required in CI');
    t.skip('chromium not installed');
    return;
  }
  const PAGE = `<!doctype html><script>
  window.check = async () => {
    const fetched = await (await fetch('/app/who', { method: 'POST', body: '[]', headers: { 'Content-Type': 'application/json' } })).json();
    const ws = new WebSocket('wss://' + location.host + '/app');
    const socket = await new Promise((resolve, reject) => {
      ws.onopen = () => ws.send('["who"]');
      ws.onmessage = (e) => { resolve(JSON.parse(e.data)); ws.close(); };
      ws.onerror = () => reject(new Error('wss failed'));
    });
    return { page: location.protocol, fetched, socket };
  };
  </script>`;
  const c = certificates().issue({ serial: 0x3006 });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${c.fullchain}\nkey=${c.key}\n`, { ...FILES, 'page.html': PAGE });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`https://localhost:${s.ports.https}/page.html`);
  const r = (await page.evaluate(() => (globalThis as unknown as { check: () => Promise<unknown> }).check())) as {
    page: string;
    fetched: Array<Record<string, unknown>>;
    socket: Array<Record<string, unknown>>;
  };
  assert.equal(r.page, 'https:');
  assert.equal(r.fetched[0].protocol, 'HTTPS');
  assert.equal(r.fetched[0].version, 'TLSv1.3');
  assert.equal(r.socket[0].protocol, 'WSS');
  assert.equal(r.socket[0].secure, true);
});

test('a missing certificate: one error line naming the file, HTTPS and RTMPS off, the plain ports serve', async (t) => {
  if (!requireOpenSSL(t) || !requireTool(t, 'curl')) return;
  const c = certificates().issue({ serial: 0x3007 });
  const missing = path.join(tempDir('monats-tls-missing-'), 'live', 'fullchain.pem');
  const s = await startTLSServer(t, `[TLS]\ncertificat=${missing}\nkey=${c.key}\n`, FILES);
  const lines = s.log().split('\n').filter((l) => l.includes(missing));
  assert.equal(lines.length, 1, s.log());
  assert.match(lines[0], /ERROR\s+RTMPS, HTTPS\s+RTMPS and HTTPS not started: .*fullchain\.pem \(\[TLS\] certificat\): no such file, the other ports keep running$/);
  assert.deepEqual(s.server.running.map((p) => p.name).sort(), ['HTTP', 'RTMP']);
  assert.equal(await tcpAccepts(s.ports.https), false);
  assert.equal(await tcpAccepts(s.ports.rtmps), false);
  assert.equal(await tcpAccepts(s.ports.rtmp), true);
  const r = await curl([`http://127.0.0.1:${s.ports.http}/hello.txt`]);
  assert.equal(r.status, 200);
});

test('a key that does not match the certificate: one error line naming both files', async (t) => {
  if (!requireOpenSSL(t)) return;
  const a = certificates().issue({ serial: 0x3008 });
  const b = certificates().issue({ serial: 0x3009 });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${a.fullchain}\nkey=${b.key}\n`, FILES);
  const lines = s.log().split('\n').filter((l) => /ERROR/.test(l));
  assert.equal(lines.length, 1, s.log());
  assert.ok(lines[0].includes(`the key ${b.key} ([TLS] key) does not match the certificate ${a.fullchain} ([TLS] certificat)`), lines[0]);
  assert.deepEqual(s.server.running.map((p) => p.name).sort(), ['HTTP', 'RTMP']);
});

test("no [TLS] keys and no cert.pem / key.pem: TLS is simply off, nothing said above debug; the files present: on", async (t) => {
  if (!requireOpenSSL(t)) return;
  const s = await startTLSServer(t, '', FILES);
  assert.deepEqual(s.server.running.map((p) => p.name).sort(), ['HTTP', 'RTMP']);
  assert.doesNotMatch(s.log(), /TLS|HTTPS|RTMPS|ERROR|WARN/);
  // MonaServer2's defaults: cert.pem and key.pem beside MonaServer.ini
  const dir = tempDir('monats-tls-default-');
  const c = certificates().issue({ serial: 0x300a });
  fs.copyFileSync(c.fullchain, path.join(dir, 'cert.pem'));
  fs.copyFileSync(c.key, path.join(dir, 'key.pem'));
  const on = await startTLSServer(t, '', FILES, dir);
  assert.deepEqual(on.server.running.map((p) => p.name).sort(), ['HTTP', 'HTTPS', 'RTMP', 'RTMPS']);
  assert.match(on.log(), new RegExp(`NOTE\\s+TLS\\s+certificate CN=localhost .*serial 300A.*, from ${path.join(dir, 'cert.pem')}`));
  const r = await secureCurl(on, 'hello.txt');
  assert.equal(r.status, 200);
});

/** ~19 Mbit/s of noise video: the kernel's socket buffers in front of a player that stops reading fill within seconds. */
function noiseFLV(dir: string): string {
  const file = path.join(dir, 'noise.flv');
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=4,noise=alls=60:allf=t',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '25', '-pix_fmt', 'yuv420p', '-f', 'flv', file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return file;
}

test('live FLV over HTTPS and WSS (published over RTMPS): a reading player gets FLV, players that stop reading are dropped on the stall timeout', { timeout: 90_000 }, async (t) => {
  if (!requireOpenSSL(t) || !requireTool(t, 'ffmpeg')) return;
  const c = certificates().issue({ serial: 0x300b });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${c.fullchain}\nkey=${c.key}\n[TCP]\nstallTimeout=2\n`, { 'live/readme.txt': 'live app' });
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', noiseFLV(s.dir), '-c', 'copy', '-f', 'flv', `rtmps://127.0.0.1:${s.ports.rtmps}/live/noise`], 90_000);
  t.after(() => pub.kill());
  await waitFor(() => s.server.context.publications.get('noise')?.running === true, 15_000, 'publication');
  const publication = s.server.context.publications.get('noise')!;
  const ca = fs.readFileSync(certificates().rootCert);

  // a WSS-FLV player that reads
  let healthyBytes = 0;
  let head = '';
  const healthy = new WebSocket(`wss://localhost:${s.ports.https}/live/noise.flv`, wssOptions());
  healthy.on('message', (d: Buffer) => {
    if (!head) head = d.subarray(0, 3).toString('latin1');
    healthyBytes += d.length;
  });
  healthy.on('error', () => {});
  t.after(() => healthy.terminate());
  // an HTTPS-FLV player that reads the head, then never again
  const stalledHTTP = tls.connect({ port: s.ports.https, host: '127.0.0.1', ca, servername: 'localhost' }, () => stalledHTTP.write('GET /live/noise.flv HTTP/1.1\r\nHost: t\r\n\r\n'));
  stalledHTTP.on('error', () => {});
  stalledHTTP.once('data', () => stalledHTTP.pause());
  t.after(() => stalledHTTP.destroy());
  // a WSS-FLV player whose socket stops reading after the upgrade
  const stalledWS = new WebSocket(`wss://localhost:${s.ports.https}/live/noise.flv`, wssOptions());
  stalledWS.on('error', () => {});
  stalledWS.once('upgrade', (res) => res.socket.pause());
  t.after(() => stalledWS.terminate());

  await waitFor(() => publication.listeners.size === 3, 10_000, 'three players');
  await waitFor(() => publication.listeners.size === 1, 45_000, 'the stalled players dropped');
  const before = healthyBytes;
  await sleep(1000);
  assert.equal(head, 'FLV');
  assert.ok(healthyBytes > before, 'the reading player still receives');
  assert.equal(s.log().split('\n').filter((l) => /HTTPS\s.*stalled|WSS\s.*stalled/.test(l)).length, 2, s.log());
});

test('HLS over HTTPS (what browsers on https pages need): curl fetches the playlists, the init segment and a segment; ffmpeg reads the live https .m3u8', { timeout: 120_000 }, async (t) => {
  if (!requireOpenSSL(t) || !requireTool(t, 'ffmpeg') || !requireTool(t, 'curl')) return;
  const c = certificates().issue({ serial: 0x300c });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${c.fullchain}\nkey=${c.key}\n[publication]\nduration=1000\n`, { 'live/readme.txt': 'live app' });
  const pub = run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=90',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=90',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmps://127.0.0.1:${s.ports.rtmps}/live/cam`,
  ], 120_000);
  t.after(() => pub.kill());
  await waitFor(() => s.server.context.publications.get('cam')?.hasVideo === true, 15_000, 'publication');

  // the multivariant playlist names its variant relatively: the player stays on https
  let r = await secureCurl(s, 'live/cam.m3u8');
  assert.equal(r.status, 200);
  assert.match(r.headers, /Content-Type: application\/vnd\.apple\.mpegurl/i);
  const variant = r.body.toString().split('\n').find((l) => l && !l.startsWith('#'))!;
  assert.match(variant, /^cam\.m3u8\/fmp4\.m3u8\?hls_session=/);
  // the media playlist once it lists a whole segment
  let media = '';
  for (const until = Date.now() + 20_000; Date.now() < until; await sleep(300)) {
    r = await secureCurl(s, `live/${variant}`);
    assert.equal(r.status, 200);
    media = r.body.toString();
    if (/^#EXTINF/m.test(media)) break;
  }
  assert.match(media, /^#EXTINF/m, media);
  const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(media)![1];
  const segment = media.split('\n').find((l) => l && !l.startsWith('#'))!;
  const init = await secureCurl(s, `live/cam.m3u8/${map}`);
  assert.equal(init.status, 200);
  assert.equal(init.body.toString('latin1', 4, 8), 'ftyp');
  const seg = await secureCurl(s, `live/cam.m3u8/${segment}`);
  assert.equal(seg.status, 200);
  assert.match(seg.headers, /Content-Type: video\/mp4/i);
  assert.equal(seg.body.toString('latin1', 4, 8), 'moof');

  // ffmpeg (its own TLS, not verifying) plays the https URL, segments and all, for 3 s
  const out = path.join(s.dir, 'copy.mkv');
  const played = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', `https://127.0.0.1:${s.ports.https}/live/cam.m3u8`, '-t', '3', '-c', 'copy', out], 60_000).done;
  assert.equal(played.code, 0, played.stderr);
  const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', out]);
  assert.ok(Number(probe.stdout.toString().trim()) >= 60, `video frames: ${probe.stdout}`);
});
