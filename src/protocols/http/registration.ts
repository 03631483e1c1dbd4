/**
 * HTTP's place in the server: the `[HTTP]` and `[HTTPS]` sections, `[WebSocket]` (served on
 * HTTP's port, WSS on HTTPS's), and the two protocols (src/registry.ts lists this registration).
 * HTTPS is the HTTP server on a TLS listener (answering with HTTP's router), started when `[TLS]`
 * names a certificate or cert.pem and key.pem are there.
 */
import type { ConfigSection } from '../../config/section';
import type { Registration } from '../../core/protocol';
import { tlsWanted } from '../../transport/tls';
import { WEBSOCKET_SECTION } from '../websocket/section';
import { HTTPServer } from './server';

/**
 * `timeout`: seconds without a request before an idle connection is closed (0 = never); `index`:
 * the file served for a folder URL ("" = list it); `headerTimeout`: seconds to receive a whole
 * request head (ours)
 */
export interface HTTPSettings {
  port: number;
  timeout: number;
  index: string;
  headerTimeout: number;
}

/** HTTP and WebSocket over TLS (MonaServer2's `[HTTPS]`): served like `[HTTP]` (its timeouts and index) */
export interface HTTPSSettings {
  port: number;
}

declare module '../../config/types' {
  interface Config {
    http: HTTPSettings;
    https: HTTPSSettings;
  }
}

export const HTTP_SECTION: ConfigSection<'http'> = {
  name: 'http',
  defaults: () => ({ port: 80, timeout: 7, index: '', headerTimeout: 10 }),
  keys: [
    { key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) },
    { key: 'timeout', kind: 'seconds', set: (s, v) => (s.timeout = v as number) },
    { key: 'index', kind: 'string', set: (s, v) => (s.index = v as string) },
    { key: 'headertimeout', kind: 'seconds', set: (s, v) => (s.headerTimeout = v as number) },
  ],
};

export const HTTPS_SECTION: ConfigSection<'https'> = {
  name: 'https',
  defaults: () => ({ port: 443 }),
  keys: [{ key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) }],
};

export const HTTP_REGISTRATION = {
  sections: [HTTP_SECTION, HTTPS_SECTION, WEBSOCKET_SECTION],
  protocols: [
    { name: 'HTTP', port: (c) => c.http.port, create: (ctx) => new HTTPServer(ctx) },
    {
      name: 'HTTPS',
      port: (c) => c.https.port,
      enabled: (c) => c.https.port > 0 && tlsWanted(c),
      create: (ctx) => new HTTPServer(ctx, { secure: true }),
    },
  ],
} satisfies Registration;
