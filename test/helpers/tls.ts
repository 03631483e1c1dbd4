/**
 * Certificates made at test time with openssl (nothing secret in the repo): a root authority, an
 * intermediate one, server certificates (ECDSA P-256 or RSA 2048) issued by the intermediate with
 * the serial asked for, and client certificates. `fullchain` is the leaf then the intermediate, as
 * Let's Encrypt's fullchain.pem, so a client trusting only the root verifies the server only if
 * the server sends the chain. Also: a test server with the registered protocols on free loopback
 * ports (RTMP, RTMPS, HTTP, HTTPS), its log lines captured.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { TestContext } from 'node:test';
import type { Server } from '../../src/server';
import { startTestServer } from './server';
import { tempDir } from './temp';

export type KeyType = 'ec' | 'rsa';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function keyArgs(type: KeyType): string[] {
  return type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
}

export interface Issued {
  /** the leaf certificate alone (PEM file) */
  cert: string;
  /** the leaf then the intermediate */
  fullchain: string;
  key: string;
  /** as Node prints it: upper-case hex */
  serial: string;
}

export class TestPKI {
  readonly dir: string;
  /** the root authority clients trust (curl --cacert, tls ca) */
  readonly rootCert: string;
  private readonly interCert: string;
  private readonly interKey: string;
  private n = 0;

  constructor(dir = tempDir('monats-pki-')) {
    this.dir = dir;
    this.rootCert = path.join(dir, 'root.pem');
    const rootKey = path.join(dir, 'root.key');
    this.interCert = path.join(dir, 'inter.pem');
    this.interKey = path.join(dir, 'inter.key');
    fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n');
    openssl(['req', '-x509', ...keyArgs('ec'), '-nodes', '-keyout', rootKey, '-out', this.rootCert, '-days', '3', '-subj', '/CN=monats test root', '-set_serial', '1'], dir);
    openssl(['req', ...keyArgs('ec'), '-nodes', '-keyout', this.interKey, '-out', 'inter.csr', '-subj', '/CN=monats test intermediate'], dir);
    openssl(['x509', '-req', '-in', 'inter.csr', '-CA', this.rootCert, '-CAkey', rootKey, '-set_serial', '2', '-days', '3', '-extfile', 'ca.ext', '-out', this.interCert], dir);
  }

  /** A server certificate for localhost and 127.0.0.1, or a client one (`client`: its CN). */
  issue(options: { type?: KeyType; serial: number; cn?: string; client?: boolean; selfSigned?: boolean }): Issued {
    const type = options.type ?? 'ec';
    const name = `c${++this.n}`;
    const cn = options.cn ?? 'localhost';
    const key = path.join(this.dir, `${name}.key`);
    const cert = path.join(this.dir, `${name}.pem`);
    const ext = path.join(this.dir, `${name}.ext`);
    fs.writeFileSync(
      ext,
      options.client ? 'extendedKeyUsage=clientAuth\n' : 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
    );
    const serial = `0x${options.serial.toString(16)}`;
    if (options.selfSigned) {
      openssl(['req', '-x509', ...keyArgs(type), '-nodes', '-keyout', key, '-out', cert, '-days', '3', '-subj', `/CN=${cn}`, '-set_serial', serial, '-addext', options.client ? 'extendedKeyUsage=clientAuth' : 'subjectAltName=DNS:localhost,IP:127.0.0.1'], this.dir);
    } else {
      openssl(['req', ...keyArgs(type), '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], this.dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', this.interCert, '-CAkey', this.interKey, '-set_serial', serial, '-days', '3', '-extfile', ext, '-out', cert], this.dir);
    }
    const fullchain = path.join(this.dir, `${name}-fullchain.pem`);
    fs.writeFileSync(fullchain, fs.readFileSync(cert, 'utf8') + (options.selfSigned ? '' : fs.readFileSync(this.interCert, 'utf8')));
    return { cert, fullchain, key, serial: options.serial.toString(16).toUpperCase().padStart(2, '0') };
  }
}

/** The serial number of the certificate a new TLS connection to `port` gets (upper-case hex). */
export function peerSerial(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial.replace(/^0+(?=..)/, ''));
    });
    s.on('error', reject);
  });
}

/** Is openssl here (certificates are made with it)? Missing: skip locally, fail in CI. */
export function requireOpenSSL(t: TestContext): boolean {
  if (spawnSync('sh', ['-c', 'command -v openssl']).status === 0) return true;
  if (process.env.CI) throw new Error('openssl is required in CI but not installed');
  t.skip('openssl not installed');
  return false;
}

export interface TLSTestServer {
  server: Server;
  dir: string;
  www: string;
  ports: { rtmp: number; rtmps: number; http: number; https: number };
  /** every log line so far */
  log(): string;
  /** resolves once `pattern` is in the log (rejects after timeoutMs) */
  waitLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * A test server (startTestServer: the registered protocols, the Lua host) with RTMP, RTMPS, HTTP
 * and HTTPS on free loopback ports, RTMFP and admin off; `ini` is the MonaServer.ini written in its
 * folder (read as the CLI reads it: relative paths from there); `files` under www/.
 */
export async function startTLSServer(t: TestContext, ini: string, files: Record<string, string | Buffer> = {}, dir = tempDir('monats-tls-')): Promise<TLSTestServer> {
  const www = path.join(dir, 'www');
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(www, p)), { recursive: true });
    fs.writeFileSync(path.join(www, p), content);
  }
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), ini);
  const s = await startTestServer({ dir, off: ['RTMFP'] });
  t.after(() => s.stop());
  return {
    server: s.server,
    dir,
    www,
    ports: { rtmp: s.ports.rtmp, rtmps: s.ports.rtmps, http: s.ports.http, https: s.ports.https },
    log: () => s.log(),
    async waitLog(pattern, timeoutMs = 20_000) {
      for (const end = Date.now() + timeoutMs; !pattern.test(s.log()); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) throw new Error(`no log line matching ${pattern} in ${timeoutMs} ms:\n${s.log()}`);
      }
    },
  };
}
