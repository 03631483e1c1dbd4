/**
 * The server link's place in the server: the `[servers]` section and the protocol it enables
 * (src/registry.ts lists this registration). The link runs with a port to listen on, or with only
 * targets to connect to.
 */
import type { ConfigSection } from '../config/section';
import type { Registration } from '../core/protocol';
import { ClusterServer } from './server';

/**
 * `port` for incoming server links (0 = none); `targets` the servers to connect to
 * (host:port?arg=val;…); `secret` the link's shared secret ("" = none, MonaServer's plain link)
 */
export interface ServersSettings {
  port: number;
  targets: string;
  secret: string;
}

declare module '../config/types' {
  interface Config {
    servers: ServersSettings;
  }
}

export const SERVERS_SECTION: ConfigSection<'servers'> = {
  name: 'servers',
  defaults: () => ({ port: 0, targets: '', secret: '' }),
  keys: [
    { key: 'port', kind: 'port', set: (s, v) => (s.port = v as number) },
    { key: 'targets', kind: 'string', set: (s, v) => (s.targets = v as string) },
    { key: 'secret', kind: 'string', set: (s, v) => (s.secret = v as string) },
  ],
};

export const CLUSTER_REGISTRATION = {
  sections: [SERVERS_SECTION],
  protocols: [
    {
      name: 'Servers',
      port: (c) => c.servers.port,
      enabled: (c) => c.servers.port > 0 || c.servers.targets.trim() !== '',
      create: (ctx) => new ClusterServer(ctx),
    },
  ],
} satisfies Registration;
