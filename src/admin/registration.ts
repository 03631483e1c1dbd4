/**
 * The admin listener's `[admin]` section (src/registry.ts lists this registration). The listener
 * itself is no ProtocolEntry: src/server.ts starts it after the protocols, since it reports them.
 */
import type { ConfigSection } from '../config/section';
import type { Registration } from '../core/protocol';

/**
 * The administration listener (JSON API, Prometheus metrics, dashboard): `port` 0 disables it,
 * `host` is its bind address (loopback unless the ini says otherwise), `password` "" = none.
 */
export interface AdminSettings {
  port: number;
  host: string;
  password: string;
}

declare module '../config/types' {
  interface Config {
    admin: AdminSettings;
  }
}

export const ADMIN_SECTION: ConfigSection<'admin'> = {
  name: 'admin',
  defaults: () => ({ port: 9997, host: '127.0.0.1', password: '' }),
  keys: [
    { key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) },
    // written empty: loopback still, never every interface by accident
    { key: 'host', kind: 'string', set: (s, v) => (s.host = (v as string) || '127.0.0.1') },
    { key: 'password', kind: 'string', set: (s, v) => (s.password = v as string) },
  ],
};

export const ADMIN_REGISTRATION = { sections: [ADMIN_SECTION] } satisfies Registration;
