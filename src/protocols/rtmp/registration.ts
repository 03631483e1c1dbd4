/**
 * RTMP's place in the server: the `[RTMP]` and `[RTMPS]` sections and the two protocols they
 * enable (src/registry.ts lists this registration). RTMPS is the RTMP server on a TLS listener,
 * started when `[TLS]` names a certificate or cert.pem and key.pem are there.
 */
import type { ConfigSection } from '../../config/section';
import type { Registration } from '../../core/protocol';
import { tlsWanted } from '../../transport/tls';
import { RTMPServer } from './server';

/** `rtmpeRate`: RTMPE handshakes per second one IP may start (bursts of twice that), 0 = no limit */
export interface RTMPSettings {
  port: number;
  rtmpeRate: number;
}

/** RTMP over TLS (MonaServer2's `[RTMPS]`) */
export interface RTMPSSettings {
  port: number;
}

declare module '../../config/types' {
  interface Config {
    rtmp: RTMPSettings;
    rtmps: RTMPSSettings;
  }
}

export const RTMP_SECTION: ConfigSection<'rtmp'> = {
  name: 'rtmp',
  defaults: () => ({ port: 1935, rtmpeRate: 10 }),
  keys: [
    { key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) },
    { key: 'rtmperate', kind: 'int', min: 0, max: 1_000_000, set: (s, v) => (s.rtmpeRate = v as number) },
  ],
};

export const RTMPS_SECTION: ConfigSection<'rtmps'> = {
  name: 'rtmps',
  defaults: () => ({ port: 8443 }),
  keys: [{ key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) }],
};

export const RTMP_REGISTRATION = {
  sections: [RTMP_SECTION, RTMPS_SECTION],
  protocols: [
    { name: 'RTMP', port: (c) => c.rtmp.port, create: (ctx) => new RTMPServer(ctx) },
    {
      name: 'RTMPS',
      port: (c) => c.rtmps.port,
      enabled: (c) => c.rtmps.port > 0 && tlsWanted(c),
      create: (ctx) => new RTMPServer(ctx, { secure: true }),
    },
  ],
} satisfies Registration;
