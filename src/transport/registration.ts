/**
 * The transport's sections, shared by every TCP protocol (src/registry.ts lists this
 * registration): `[TCP]` (the bounds of every TCP connection, limits.ts, docs/limits.md) and
 * `[TLS]` (the certificate and handshake limits of every TLS listener, tls.ts).
 */
import { MAX_INT32, type ConfigSection } from '../config/section';
import type { Registration } from '../core/protocol';
import * as path from 'node:path';

/**
 * Every TCP listener (ours): connection caps (0 = none; maxConnections -1 = from the open-file
 * limit), bytes queued towards a peer above which its input is paused, and seconds a peer may stay
 * above that before it is dropped (0 = never).
 */
export interface TCPSettings {
  maxConnections: number;
  maxConnectionsPerIP: number;
  outputLimit: number;
  stallTimeout: number;
}

/**
 * TLS (MonaServer2's `[TLS]` section, plus ours): `certificat` and `key` are absolute paths of PEM
 * files (a relative path in the ini is taken from the ini's folder, as MonaServer2 does; the
 * certificate file may hold the chain after it); `ca` ("" = none) is a PEM of authorities whose
 * client certificates are asked for and checked; `ciphers` ("" = OpenSSL's defaults) an OpenSSL
 * cipher list; `handshakeTimeout` seconds for a handshake to complete (0 = none);
 * `handshakeRate` TLS handshakes one IP may start per second (bursts of twice that, and at most
 * that burst in progress at once; 0 = no limit).
 */
export interface TLSSettings {
  certificat: string;
  key: string;
  ca: string;
  ciphers: string;
  handshakeTimeout: number;
  handshakeRate: number;
}

declare module '../config/types' {
  interface Config {
    tcp: TCPSettings;
    tls: TLSSettings;
  }
}

export const TCP_SECTION: ConfigSection<'tcp'> = {
  name: 'tcp',
  defaults: () => ({ maxConnections: -1, maxConnectionsPerIP: 1000, outputLimit: 1024 * 1024, stallTimeout: 15 }),
  keys: [
    { key: 'maxconnections', kind: 'int', min: -1, max: MAX_INT32, set: (t, v) => (t.maxConnections = v as number) },
    { key: 'maxconnectionsperip', kind: 'int', min: 0, max: MAX_INT32, set: (t, v) => (t.maxConnectionsPerIP = v as number) },
    { key: 'outputlimit', kind: 'int', min: 16384, max: MAX_INT32, set: (t, v) => (t.outputLimit = v as number) },
    { key: 'stalltimeout', kind: 'seconds', set: (t, v) => (t.stallTimeout = v as number) },
  ],
};

export const TLS_SECTION: ConfigSection<'tls'> = {
  name: 'tls',
  defaults: (dir) => ({
    certificat: path.join(dir, 'cert.pem'),
    key: path.join(dir, 'key.pem'),
    ca: '',
    ciphers: '',
    handshakeTimeout: 10,
    handshakeRate: 50,
  }),
  keys: [
    { key: 'certificat', kind: 'string', set: (t, v) => (t.certificat = v as string) },
    { key: 'key', kind: 'string', set: (t, v) => (t.key = v as string) },
    { key: 'ca', kind: 'string', set: (t, v) => (t.ca = v as string) },
    { key: 'ciphers', kind: 'string', set: (t, v) => (t.ciphers = v as string) },
    { key: 'handshaketimeout', kind: 'seconds', set: (t, v) => (t.handshakeTimeout = v as number) },
    { key: 'handshakerate', kind: 'int', min: 0, max: 1_000_000, set: (t, v) => (t.handshakeRate = v as number) },
  ],
  paths: ['certificat', 'key', 'ca'],
};

export const TRANSPORT_REGISTRATION = { sections: [TCP_SECTION, TLS_SECTION] } satisfies Registration;
