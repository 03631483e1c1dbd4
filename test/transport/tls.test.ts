/**
 * TLS as an option of the transport listener, with an echo protocol on it: what is wrong with a
 * certificate or key is said naming the file; handshakes that stall are dropped at the deadline;
 * a handshake flood from one IP is refused at accept while another client is served; TLS 1.1 is
 * refused (openssl s_client); certificate files replaced on disk are used by new connections
 * (also a Let's Encrypt-style symbolic link flip), and a bad replacement keeps the previous one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tls from 'node:tls';
import { FolderHost } from '../../src/core/app-host';
import { ServerContext } from '../../src/core/context';
import { ProtocolUnavailable } from '../../src/core/protocol';
import { defaultConfig } from '../../src/registry';
import type { Config } from '../../src/config/types';
import { Level } from '../../src/logs/levels';
import { ServerLogger } from '../../src/logs/logger';
import { TCPListener } from '../../src/transport/listener';
import { serverTLS, ServerTLS } from '../../src/transport/tls';
import { tempDir } from '../helpers/temp';
import { peerSerial, requireOpenSSL, TestPKI } from '../helpers/tls';
import { sleep } from '../helpers/attack-kit';

interface Echo {
  listener: TCPListener;
  tls: ServerTLS;
  port: number;
  log(): string;
}

function context(configure: (c: Config) => void): { ctx: ServerContext; log: () => string } {
  const dir = tempDir('monats-tls-t-');
  const config = defaultConfig(dir);
  configure(config);
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const logger = new ServerLogger({ level: Level.DEBUG, console: out, file: null });
  return { ctx: new ServerContext(config, logger, new FolderHost(dir), 'test'), log: () => text };
}

/** A TLS listener whose protocol echoes every byte back. */
async function echoServer(t: TestContext, configure: (c: Config) => void): Promise<Echo> {
  const { ctx, log } = context(configure);
  const listener = new TCPListener(ctx, {
    name: 'ECHO',
    port: 0,
    host: '127.0.0.1',
    tls: { server: serverTLS(ctx) },
    onConnection: (c) => {
      c.handler = { onData: (d) => c.write(d), onClose: () => {} };
    },
  });
  await listener.start();
  t.after(() => listener.stop());
  return { listener, tls: serverTLS(ctx), port: listener.port, log };
}

function tlsEcho(port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const s = tls.connect({ socket, rejectUnauthorized: false }, () => s.write('ping'));
    socket.once('error', reject);
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString());
    });
    s.once('error', reject);
  });
}

function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
  });
}

/**
 * openssl s_client sending "ping" to the echo: its output (stdout and stderr) once the echo came
 * back or it ended, killed by its PID after that or after 10 s.
 */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        if (p.exitCode === null) process.kill(p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      resolve(out);
    };
    const timer = setTimeout(finish, 10_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/ping$/.test(out)) finish();
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('close', finish);
    p.on('error', finish);
    p.stdin.on('error', () => {});
    p.stdin.write('ping');
  });
}

let pki: TestPKI | null = null;
function certificates(): TestPKI {
  return (pki ??= new TestPKI());
}

test('what is wrong with the files is said naming the file: missing, no PEM, mismatched, encrypted, bad ciphers', (t) => {
  if (!requireOpenSSL(t)) return;
  const p = certificates();
  const a = p.issue({ serial: 0x1101 });
  const b = p.issue({ serial: 0x1102, type: 'rsa' });
  const dir = tempDir('monats-tls-bad-');
  const garbage = path.join(dir, 'garbage.pem');
  fs.writeFileSync(garbage, 'not a certificate\n');
  const encrypted = path.join(dir, 'encrypted.key');
  const r = spawnSync('openssl', ['pkey', '-in', a.key, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
  assert.equal(r.status, 0);
  const attempt = (tlsConfig: Partial<Config['tls']>): string => {
    const { ctx } = context((c) => Object.assign(c.tls, tlsConfig));
    try {
      serverTLS(ctx).close(serverTLS(ctx).open());
    } catch (e) {
      assert.ok(e instanceof ProtocolUnavailable);
      return (e as Error).message;
    }
    return 'ok';
  };
  const missing = path.join(dir, 'nothere.pem');
  assert.equal(attempt({ certificat: missing, key: a.key }), `${missing} ([TLS] certificat): no such file`);
  assert.equal(attempt({ certificat: a.fullchain, key: missing }), `${missing} ([TLS] key): no such file`);
  assert.equal(attempt({ certificat: garbage, key: a.key }), `${garbage} ([TLS] certificat) holds no PEM certificate`);
  assert.match(attempt({ certificat: a.fullchain, key: garbage }), new RegExp(`^${garbage} \\(\\[TLS\\] key\\) holds no PEM private key`));
  assert.equal(attempt({ certificat: a.fullchain, key: b.key }), `the key ${b.key} ([TLS] key) does not match the certificate ${a.fullchain} ([TLS] certificat)`);
  assert.match(attempt({ certificat: a.fullchain, key: encrypted }), new RegExp(`^${encrypted} \\(\\[TLS\\] key\\) is encrypted`));
  assert.match(attempt({ certificat: a.fullchain, key: a.key, ciphers: 'NO-SUCH-CIPHER' }), /^\[TLS\] ciphers "NO-SUCH-CIPHER": /);
  assert.equal(attempt({ certificat: a.fullchain, key: a.key, ca: garbage }), `${garbage} ([TLS] ca) holds no PEM certificate`);
  assert.equal(attempt({ certificat: a.fullchain, key: a.key }), 'ok');
  assert.equal(attempt({ certificat: b.fullchain, key: b.key, ca: p.rootCert }), 'ok');
  if (process.getuid?.() !== 0) {
    const unreadable = path.join(dir, 'unreadable.key');
    fs.copyFileSync(a.key, unreadable);
    fs.chmodSync(unreadable, 0o000);
    assert.match(attempt({ certificat: a.fullchain, key: unreadable }), new RegExp(`^${unreadable} \\(\\[TLS\\] key\\): permission denied for user `));
  }
});

test('a handshake that never completes is dropped at the deadline; the server keeps serving', async (t) => {
  if (!requireOpenSSL(t)) return;
  const c = certificates().issue({ serial: 0x1201 });
  const s = await echoServer(t, (cfg) => Object.assign(cfg.tls, { certificat: c.fullchain, key: c.key, handshakeTimeout: 0.4 }));
  assert.equal(await tlsEcho(s.port), 'ping');
  // nothing at all after the TCP connect, and half a ClientHello
  const silent = net.connect(s.port, '127.0.0.1');
  const half = net.connect(s.port, '127.0.0.1');
  await Promise.all([new Promise((r) => silent.once('connect', r)), new Promise((r) => half.once('connect', r))]);
  half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
  await sleep(50);
  assert.equal(s.tls.handshakesInProgress, 2);
  assert.equal(s.listener.handshakes, 2);
  assert.equal(s.listener.connections.size, 0, 'no connection before the handshake is done');
  const [a, b] = await Promise.all([closedWithin(silent, 5000), closedWithin(half, 5000)]);
  assert.ok(a && b, 'both dropped');
  await sleep(50);
  assert.equal(s.tls.handshakesInProgress, 0);
  assert.equal(s.listener.handshakes, 0);
  assert.equal(s.listener.totalConnections, 0);
  assert.match(s.log(), /TLS handshake not complete in 0\.4 s/);
  assert.equal(await tlsEcho(s.port), 'ping');
  // not TLS at all: refused by the handshake, not by the deadline
  const plain = net.connect(s.port, '127.0.0.1');
  plain.on('connect', () => plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.ok(await closedWithin(plain, 2000));
  await sleep(50);
  assert.equal(s.tls.handshakesInProgress, 0);
  assert.match(s.log(), /TLS handshake failed: .*(wrong version number|http request)/i);
});

test('a handshake flood from one IP is refused at accept, before any TLS work; another client is served', async (t) => {
  if (!requireOpenSSL(t)) return;
  const c = certificates().issue({ serial: 0x1301 });
  const s = await echoServer(t, (cfg) => Object.assign(cfg.tls, { certificat: c.fullchain, key: c.key, handshakeRate: 5, handshakeTimeout: 5 }));
  // 1. connections that never send a ClientHello: at most a burst (2 x rate) in progress from that IP
  const idle: net.Socket[] = [];
  for (let i = 0; i < 40; i++) idle.push(net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.3' }));
  t.after(() => idle.forEach((x) => x.destroy()));
  const closed = await Promise.all(idle.map((x) => closedWithin(x, 1000)));
  assert.equal(closed.filter((x) => !x).length, 10, 'a burst of 10 held, the others closed at accept');
  assert.equal(s.tls.handshakesInProgress, 10);
  // 2. full handshakes as fast as a client can from 127.0.0.2: the rate lets the burst through
  let ok = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: 60 }, () =>
      tlsEcho(s.port, '127.0.0.2').then(
        () => ok++,
        () => refused++,
      ),
    ),
  );
  assert.ok(ok >= 5 && ok <= 12, `${ok} handshakes done from the flooding IP (burst 10 + refill)`);
  assert.equal(ok + refused, 60);
  // 3. meanwhile a client from another IP is served, with openssl's own client
  assert.match(await sClient(s.port, []), /ping$/);
  assert.match(s.log(), /refusing TLS connections from 127\.0\.0\.(2|3): /);
  // the refusals are one line per minute, not one per connection
  assert.ok(s.log().split('\n').filter((l) => /refusing TLS connections/.test(l)).length <= 1);
});

test('TLS 1.2 and 1.3 are served, 1.1 is refused (openssl s_client)', async (t) => {
  if (!requireOpenSSL(t)) return;
  const c = certificates().issue({ serial: 0x1401, type: 'rsa' });
  const s = await echoServer(t, (cfg) => Object.assign(cfg.tls, { certificat: c.fullchain, key: c.key }));
  const client = (flag: string) => sClient(s.port, [flag, '-cipher', 'DEFAULT:@SECLEVEL=0']);
  assert.match(await client('-tls1_3'), /New, TLSv1\.3,[\s\S]*ping/);
  assert.match(await client('-tls1_2'), /New, TLSv1\.2,[\s\S]*ping/);
  const old = await client('-tls1_1');
  assert.doesNotMatch(old, /ping/);
  assert.match(old, /alert protocol version/);
});

test('certificate files replaced on disk: new connections get the new one, a bad replacement keeps the old one', async (t) => {
  if (!requireOpenSSL(t)) return;
  const p = certificates();
  const first = p.issue({ serial: 0x1501 });
  const second = p.issue({ serial: 0x1502, type: 'rsa' });
  const third = p.issue({ serial: 0x1503 });
  const dir = tempDir('monats-tls-swap-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  fs.copyFileSync(first.fullchain, cert);
  fs.copyFileSync(first.key, key);
  const s = await echoServer(t, (cfg) => Object.assign(cfg.tls, { certificat: cert, key }));
  assert.equal(await peerSerial(s.port), first.serial);
  // an established connection is not disturbed by a reload
  const kept = tls.connect({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise((r) => kept.once('secureConnect', r));
  t.after(() => kept.destroy());

  const waitSerial = async (serial: string) => {
    const until = Date.now() + 30_000; // the folder's notifications, else the 10 s periodic check
    for (;;) {
      if ((await peerSerial(s.port)) === serial) return;
      if (Date.now() > until) assert.fail(`the server never served ${serial}:\n${s.log()}`);
      await sleep(200);
    }
  };
  fs.copyFileSync(second.fullchain, cert);
  fs.copyFileSync(second.key, key);
  await waitSerial(second.serial);
  assert.match(s.log(), new RegExp(`certificate reloaded: CN=localhost .*serial ${second.serial}`));
  kept.write('still');
  assert.equal((await new Promise<Buffer>((r) => kept.once('data', r))).toString(), 'still');

  // a certificate without its key: refused once, the previous certificate stays
  fs.copyFileSync(third.fullchain, cert);
  const errorLine = /ERROR\s+TLS\s+the changed certificate files are not used: the key .* does not match the certificate/;
  const until = Date.now() + 30_000;
  while (!errorLine.test(s.log())) {
    if (Date.now() > until) assert.fail(`no error for the mismatched pair:\n${s.log()}`);
    await sleep(200);
  }
  assert.equal(await peerSerial(s.port), second.serial);
  await sleep(1200);
  assert.equal(s.log().split('\n').filter((l) => errorLine.test(l)).length, 1, 'said once');
  // its key arrives: now it is used
  fs.copyFileSync(third.key, key);
  await waitSerial(third.serial);
});

test("Let's Encrypt layout: live/ symbolic links to archive/ files, a renewal flips the links", async (t) => {
  if (!requireOpenSSL(t)) return;
  const p = certificates();
  const dir = tempDir('monats-tls-le-');
  const archive = path.join(dir, 'archive', 'example.com');
  const live = path.join(dir, 'live', 'example.com');
  fs.mkdirSync(archive, { recursive: true });
  fs.mkdirSync(live, { recursive: true });
  const place = (n: number, issued: { fullchain: string; key: string }) => {
    fs.copyFileSync(issued.fullchain, path.join(archive, `fullchain${n}.pem`));
    fs.copyFileSync(issued.key, path.join(archive, `privkey${n}.pem`));
    // certbot's way: a new link beside, renamed over the old one
    for (const [name, target] of [['fullchain.pem', `fullchain${n}.pem`], ['privkey.pem', `privkey${n}.pem`]]) {
      const tmp = path.join(live, `${name}.new`);
      fs.symlinkSync(path.join('..', '..', 'archive', 'example.com', target), tmp);
      fs.renameSync(tmp, path.join(live, name));
    }
  };
  const one = p.issue({ serial: 0x1601 });
  const two = p.issue({ serial: 0x1602 });
  place(1, one);
  const s = await echoServer(t, (cfg) => Object.assign(cfg.tls, { certificat: path.join(live, 'fullchain.pem'), key: path.join(live, 'privkey.pem') }));
  assert.equal(await peerSerial(s.port), one.serial);
  place(2, two);
  const until = Date.now() + 30_000;
  while ((await peerSerial(s.port)) !== two.serial) {
    if (Date.now() > until) assert.fail(`the renewal was not picked up:\n${s.log()}`);
    await sleep(200);
  }
  // the chain is served: a client trusting only the root verifies the renewed certificate
  const verified = await new Promise<boolean>((resolve) => {
    const c = tls.connect({ port: s.port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(p.rootCert) }, () => {
      resolve(c.authorized);
      c.destroy();
    });
    c.on('error', () => resolve(false));
  });
  assert.ok(verified);
});
