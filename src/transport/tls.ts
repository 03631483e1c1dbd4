/**
 * The TLS side of one server, shared by every TLS listener of it (RTMPS, HTTPS): the certificate
 * and key of `[TLS]` (loaded and checked once, watched, reloaded when the files change on disk) and
 * the accounting of handshakes per IP (a full handshake costs the server a signature and a key
 * agreement, so their rate and the number in progress are bounded per IP like RTMPE's).
 *
 * Each TLS listener (listener.ts) gets a `tls.Server` of its own from `open()`, which never listens:
 * the listener counts and checks a peer at accept as for plain TCP, asks `admit(ip)` here, then
 * hands the socket to that server (`emit('connection')`), which runs the handshake as Node's own
 * TLS servers do (ALPN, client certificates checked against `[TLS] ca`, session tickets); the
 * listener gives the handshake a deadline and takes the TLSSocket back on `secureConnection`. A
 * reload calls `setSecureContext` on every such server: new connections get the new certificate,
 * established ones keep theirs.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { Config } from '../config/types';
import type { ServerContext } from '../core/context';
import { ProtocolUnavailable } from '../core/protocol';
import type { Connection } from './connection';
import { HandshakeLimiter } from './handshake-limiter';

/** The oldest TLS version accepted: 1.0 and 1.1 are deprecated (RFC 8996). */
export const TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2';
/** How often the files are checked for a change, besides the file system's notifications. */
export const TLS_RECHECK_MS = 10_000;
/** A change is read this long after the last notification: a certificate and its key are not written at once. */
const SETTLE_MS = 500;
/** Certificates expiring within this are warned about at load. */
const EXPIRY_WARNING_MS = 14 * 24 * 3600_000;

/**
 * Whether the TLS ports should try to start: `[TLS] certificat` or `key` written in the ini (then a
 * missing file is an error), or the default cert.pem / key.pem present. Neither: TLS is simply off.
 */
export function tlsWanted(config: Config): boolean {
  const { certificat, key } = config.tls;
  if (certificat === '' || key === '') return false;
  return tlsWritten(config) || fs.existsSync(certificat) || fs.existsSync(key);
}

function tlsWritten(config: Config): boolean {
  for (const [name, value] of Object.entries(config.raw)) {
    if (name.toLowerCase() !== 'tls' || typeof value !== 'object') continue;
    for (const key of Object.keys(value)) if (/^(certificat|key)$/i.test(key)) return true;
  }
  return false;
}

/** One loaded certificate and key, checked. */
interface Credentials {
  /** what makes a secure context of them (a listener adds the newest TLS version it offers) */
  options: tls.SecureContextOptions;
  certificate: crypto.X509Certificate;
  /** certificates in the certificate file (the leaf and its chain) */
  chain: number;
  /** the files' identity when they were read (see signature()) */
  signature: string;
}

/** What scripts and logs say of a certificate: "CN=example.com, serial 0A1B…, valid until …". */
export function describeCertificate(c: crypto.X509Certificate): string {
  const subject = c.subject.replace(/\n/g, ', ');
  const names = c.subjectAltName ? ` (${c.subjectAltName})` : '';
  return `${subject}${names}, issuer ${c.issuer.replace(/\n/g, ', ')}, serial ${c.serialNumber}, valid until ${new Date(c.validTo).toISOString()}`;
}

function pemBlocks(text: string, label: RegExp): number {
  let n = 0;
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)) if (label.test(m[1])) n++;
  return n;
}

function readError(file: string, key: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  let why = (e as Error).message;
  if (code === 'ENOENT') why = 'no such file';
  else if (code === 'EACCES') why = `permission denied for user ${os.userInfo().username} (the server must be able to read it)`;
  else if (code === 'EISDIR') why = 'is a folder';
  return `${file} ([TLS] ${key}): ${why}`;
}

export class ServerTLS {
  private credentials: Credentials | null = null;
  /** files whose change was read and refused: not reported again until they change again */
  private refused = '';
  /** the servers of the running TLS listeners, and the newest version each offers */
  private readonly servers = new Map<tls.Server, tls.SecureVersion>();
  private watchers: fs.FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private settle: NodeJS.Timeout | null = null;
  /** handshakes one IP may start (`[TLS] handshakeRate`) */
  private readonly limiter: HandshakeLimiter;
  /** handshakes in progress per IP */
  private readonly pending = new Map<string, number>();

  constructor(readonly context: ServerContext) {
    this.limiter = new HandshakeLimiter(() => this.context.config.tls.handshakeRate);
  }

  private get config(): Config['tls'] {
    return this.context.config.tls;
  }

  /**
   * A TLS listener starts: its handshaking server. The first one loads and checks the files
   * (throwing ProtocolUnavailable with the reason, which names the file, when they cannot serve);
   * they are watched while a listener runs.
   */
  open(options: { alpn?: string[]; maxVersion?: tls.SecureVersion } = {}): tls.Server {
    if (!this.credentials) {
      const loaded = this.load();
      if (typeof loaded === 'string') throw new ProtocolUnavailable(loaded);
      this.credentials = loaded;
      this.context.logger.note('TLS', `certificate ${describeCertificate(loaded.certificate)}${this.chainText(loaded)}, from ${this.config.certificat}`);
      this.warnExpiry(loaded.certificate);
    }
    const maxVersion = options.maxVersion ?? 'TLSv1.3';
    const server = tls.createServer({
      ...this.credentials.options,
      maxVersion,
      ALPNProtocols: options.alpn,
      requestCert: this.requestCert,
      // a client certificate that does not verify is no reason to refuse: scripts decide (tlsClientVerified)
      rejectUnauthorized: false,
      // the listener's deadline is from the connection on (Node's restarts with every byte received)
      handshakeTimeout: 0,
    });
    if (this.servers.size === 0) this.watch();
    this.servers.set(server, maxVersion);
    return server;
  }

  /** A TLS listener stopped. */
  close(server: tls.Server): void {
    if (!this.servers.delete(server) || this.servers.size > 0) return;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    if (this.settle) clearTimeout(this.settle);
    this.timer = this.settle = null;
  }

  /** The certificate in use (after acquire). */
  get certificate(): crypto.X509Certificate | null {
    return this.credentials?.certificate ?? null;
  }

  /** Client certificates are asked for when `[TLS] ca` names authorities to check them against. */
  get requestCert(): boolean {
    return this.config.ca !== '';
  }

  get handshakeTimeoutMs(): number {
    return Math.round(this.config.handshakeTimeout * 1000);
  }

  /**
   * May this IP start one more handshake now? null = yes (it is then in progress until
   * `handshakeEnded`), else why not. Past the rate, or with a whole burst in progress already, the
   * connection is refused before any TLS work.
   */
  admit(ip: string): string | null {
    const rate = this.config.handshakeRate;
    if (rate > 0) {
      const inProgress = this.pending.get(ip) ?? 0;
      if (inProgress >= 2 * rate) return `${inProgress} TLS handshakes in progress, the cap is twice TLS.handshakeRate=${rate}`;
      if (!this.limiter.allow(ip)) return `more than TLS.handshakeRate=${rate} TLS handshakes a second`;
    }
    this.pending.set(ip, (this.pending.get(ip) ?? 0) + 1);
    return null;
  }

  handshakeEnded(ip: string): void {
    const n = (this.pending.get(ip) ?? 1) - 1;
    if (n > 0) this.pending.set(ip, n);
    else this.pending.delete(ip);
  }

  /** Handshakes in progress now (tests, metrics). */
  get handshakesInProgress(): number {
    let n = 0;
    for (const v of this.pending.values()) n += v;
    return n;
  }

  // ---- loading --------------------------------------------------------------------------------

  /** The files' identity (the target of a symbolic link, as certbot's live/ folder has them). */
  private signature(): string {
    const { certificat, key, ca } = this.config;
    return [certificat, key, ca]
      .map((f) => {
        if (f === '') return '-';
        try {
          const s = fs.statSync(f);
          return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
        } catch {
          return 'none';
        }
      })
      .join('|');
  }

  /** Reads and checks the files: the credentials, or what is wrong (naming the file). */
  private load(signature = this.signature()): Credentials | string {
    const { certificat, key, ca, ciphers } = this.config;
    let certText: string;
    let keyText: string;
    let caText: string | undefined;
    try {
      certText = fs.readFileSync(certificat, 'utf8');
    } catch (e) {
      return readError(certificat, 'certificat', e);
    }
    try {
      keyText = fs.readFileSync(key, 'utf8');
    } catch (e) {
      return readError(key, 'key', e);
    }
    if (ca !== '') {
      try {
        caText = fs.readFileSync(ca, 'utf8');
      } catch (e) {
        return readError(ca, 'ca', e);
      }
      if (pemBlocks(caText, /^(X509 |TRUSTED )?CERTIFICATE$/) === 0) return `${ca} ([TLS] ca) holds no PEM certificate`;
    }
    const chain = pemBlocks(certText, /^(X509 |TRUSTED )?CERTIFICATE$/);
    if (chain === 0) return `${certificat} ([TLS] certificat) holds no PEM certificate`;
    let certificate: crypto.X509Certificate;
    try {
      certificate = new crypto.X509Certificate(certText);
    } catch (e) {
      return `${certificat} ([TLS] certificat) is no valid certificate: ${(e as Error).message}`;
    }
    let privateKey: crypto.KeyObject;
    try {
      privateKey = crypto.createPrivateKey(keyText);
    } catch (e) {
      const m = (e as Error).message;
      if (/ENCRYPTED/.test(keyText) || /passphrase/i.test(m)) return `${key} ([TLS] key) is encrypted: give the server a key without a passphrase (openssl pkey -in ${path.basename(key)} -out key-plain.pem)`;
      return `${key} ([TLS] key) holds no PEM private key: ${m}`;
    }
    if (!certificate.checkPrivateKey(privateKey)) return `the key ${key} ([TLS] key) does not match the certificate ${certificat} ([TLS] certificat)`;
    const options: tls.SecureContextOptions = { cert: certText, key: keyText, ca: caText, ciphers: ciphers || undefined, minVersion: TLS_MIN_VERSION };
    try {
      tls.createSecureContext(options); // what OpenSSL refuses (a cipher list matching nothing) is said now
    } catch (e) {
      const m = (e as Error).message;
      return ciphers && /cipher/i.test(m) ? `[TLS] ciphers "${ciphers}": ${m}` : `${certificat} and ${key}: ${m}`;
    }
    return { options, certificate, chain, signature };
  }

  private chainText(c: Credentials): string {
    return c.chain > 1 ? ` with ${c.chain - 1} chain certificate${c.chain > 2 ? 's' : ''}` : '';
  }

  private warnExpiry(c: crypto.X509Certificate): void {
    const now = Date.now();
    const to = new Date(c.validTo).getTime();
    const from = new Date(c.validFrom).getTime();
    if (to < now) this.context.logger.warn('TLS', `the certificate expired on ${new Date(to).toISOString()}: clients will refuse it`);
    else if (from > now) this.context.logger.warn('TLS', `the certificate is not valid before ${new Date(from).toISOString()}: clients will refuse it until then`);
    else if (to - now < EXPIRY_WARNING_MS) this.context.logger.warn('TLS', `the certificate expires on ${new Date(to).toISOString()}`);
  }

  // ---- reloading ------------------------------------------------------------------------------

  /** Notifications of the files' folders (fast), and a periodic check (any file system). */
  private watch(): void {
    const { certificat, key, ca } = this.config;
    const files = [certificat, key, ca].filter((f) => f !== '');
    const names = new Set(files.map((f) => path.basename(f)));
    for (const dir of new Set(files.map((f) => path.dirname(f)))) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, name) => {
          if (!name || names.has(name.toString())) this.changed();
        });
        w.on('error', () => w.close()); // the folder went away: the periodic check goes on
        this.watchers.push(w);
      } catch {
        // no notifications here (a missing folder, no inotify watch left): the periodic check does it
      }
    }
    this.timer = setInterval(() => this.check(), TLS_RECHECK_MS);
    this.timer.unref();
  }

  private changed(): void {
    if (this.settle) clearTimeout(this.settle);
    this.settle = setTimeout(() => {
      this.settle = null;
      this.check();
    }, SETTLE_MS);
    this.settle.unref();
  }

  /** Reloads when the files changed; a bad change is reported once and the credentials in use stay. */
  check(): void {
    const current = this.credentials;
    if (!current || this.servers.size === 0) return;
    const signature = this.signature();
    if (signature === current.signature || signature === this.refused) return;
    const loaded = this.load(signature);
    if (typeof loaded === 'string') {
      this.refused = signature;
      this.context.logger.error('TLS', `the changed certificate files are not used: ${loaded}; new connections keep the certificate ${current.certificate.serialNumber}`);
      return;
    }
    this.refused = '';
    this.credentials = loaded;
    for (const [server, maxVersion] of this.servers) server.setSecureContext({ ...loaded.options, maxVersion });
    this.context.logger.note('TLS', `certificate reloaded: ${describeCertificate(loaded.certificate)}${this.chainText(loaded)}`);
    this.warnExpiry(loaded.certificate);
  }
}

const servers = new WeakMap<ServerContext, ServerTLS>();

/** The TLS side of the server of `context` (one per server, shared by its TLS listeners). */
export function serverTLS(context: ServerContext): ServerTLS {
  let s = servers.get(context);
  if (!s) servers.set(context, (s = new ServerTLS(context)));
  return s;
}

/**
 * How a TLS listener makes its sockets: the server's TLS side, its ALPN protocols (HTTPS:
 * http/1.1), and the newest TLS version it offers (default TLS 1.3).
 */
export interface ListenerTLS {
  server: ServerTLS;
  alpn?: string[];
  maxVersion?: tls.SecureVersion;
}

const SECURE_PROPERTIES = ['secure', 'tlsVersion', 'tlsCipher', 'tlsServerName', 'tlsClientSubject', 'tlsClientIssuer', 'tlsClientVerified'];

/**
 * What scripts read of a secure channel in `client.properties`: `secure` (true), `tlsVersion`
 * ("TLSv1.3"), `tlsCipher`, `tlsServerName` (the SNI name the client asked for), and when the
 * client sent a certificate `tlsClientSubject` ("CN=alice, O=Example"), `tlsClientIssuer` and
 * `tlsClientVerified` (it chains to `[TLS] ca`). Every name the channel does not give is null
 * (a plain connection: all of them), and protocols set these after what the client itself says
 * (query, headers, cookies, connect object): a client cannot forge them, on any port.
 */
export function secureProperties(connection: Connection): Array<[string, string | boolean | null]> {
  const out = new Map<string, string | boolean | null>(SECURE_PROPERTIES.map((k) => [k, null]));
  const s = connection.socket;
  if (connection.secure && s instanceof tls.TLSSocket) {
    out.set('secure', true);
    out.set('tlsVersion', s.getProtocol());
    const cipher = s.getCipher();
    if (cipher) out.set('tlsCipher', cipher.standardName ?? cipher.name);
    const servername = (s as tls.TLSSocket & { servername?: string | false }).servername;
    if (typeof servername === 'string' && servername) out.set('tlsServerName', servername);
    const peer = s.getPeerCertificate();
    if (peer && Object.keys(peer).length) {
      out.set('tlsClientSubject', distinguishedName(peer.subject));
      out.set('tlsClientIssuer', distinguishedName(peer.issuer));
      out.set('tlsClientVerified', s.authorized);
    }
  }
  return [...out];
}

/** "CN=alice, O=Example" from Node's parsed subject (values that repeat are arrays). */
function distinguishedName(name: tls.Certificate | undefined): string {
  if (!name) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${x}`);
  return parts.join(', ');
}
