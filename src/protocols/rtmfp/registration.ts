/**
 * RTMFP's place in the server: the `[RTMFP]` section and the protocol it enables (src/registry.ts
 * lists this registration).
 */
import type { ConfigSection } from '../../config/section';
import type { Registration } from '../../core/protocol';
import { RTMFPServer } from './server';

/** UDP `port`; seconds between keepalives towards clients and between peers */
export interface RTMFPSettings {
  port: number;
  keepaliveServer: number;
  keepalivePeer: number;
}

declare module '../../config/types' {
  interface Config {
    rtmfp: RTMFPSettings;
  }
}

export const RTMFP_SECTION: ConfigSection<'rtmfp'> = {
  name: 'rtmfp',
  defaults: () => ({ port: 1935, keepaliveServer: 15, keepalivePeer: 10 }),
  keys: [
    { key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) },
    // out of range is clamped with a warning, as MonaServer does
    { key: 'keepaliveserver', kind: 'int', min: 5, max: 255, clamp: true, set: (s, v) => (s.keepaliveServer = v as number) },
    { key: 'keepalivepeer', kind: 'int', min: 5, max: 255, clamp: true, set: (s, v) => (s.keepalivePeer = v as number) },
  ],
};

export const RTMFP_REGISTRATION = {
  sections: [RTMFP_SECTION],
  protocols: [{ name: 'RTMFP', port: (c) => c.rtmfp.port, create: (ctx) => new RTMFPServer(ctx) }],
} satisfies Registration;
