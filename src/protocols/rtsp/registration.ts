/**
 * RTSP's place in the server: MonaServer's `[RTSP]` section. RTSP is not served yet, so this
 * registration has the section and no protocol: `port` is read and checked like any port (an ini
 * written for MonaServer loads without an error, the admin API shows it), and setting it to
 * anything but 0 (off, which is what happens anyway) is reported at start as not in effect. The
 * RTSP server, when it comes, is added to this registration's protocols and the key loses its
 * notInEffect.
 */
import type { ConfigSection } from '../../config/section';
import type { Registration } from '../../core/protocol';

export interface RTSPSettings {
  port: number;
}

declare module '../../config/types' {
  interface Config {
    rtsp: RTSPSettings;
  }
}

export const RTSP_SECTION: ConfigSection<'rtsp'> = {
  name: 'rtsp',
  defaults: () => ({ port: 554 }),
  keys: [{ key: 'port', kind: 'port', set: (s, v) => (s.port = v as number), notInEffect: 'RTSP is not served yet', inEffectValue: 0 }],
};

export const RTSP_REGISTRATION = { sections: [RTSP_SECTION] } satisfies Registration;
