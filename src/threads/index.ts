/**
 * `threads` (MonaServer.ini, top level): how many worker processes serve the protocols. 1 is one
 * process for everything (no hop between protocols and scripts); N > 1 starts a primary that runs
 * the scripts, `data` and the server link, and N workers (primary.ts, worker.ts); 0 is automatic.
 */
import * as os from 'node:os';
import type { Config } from '../config/types';
import type { ProtocolEntry } from '../server';
import { ClusterServer } from '../cluster/server';
import { ThreadsPrimary } from './primary';

/** The worker count `threads` asks for on this machine (0 = automatic: one per core). */
export function threadCount(config: Config): number {
  if (config.threads > 0) return config.threads;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** What the primary of `threads = n` runs instead of the protocols: the workers, and the server link. */
export function primaryProtocols(n: number): ProtocolEntry[] {
  return [
    { name: 'Workers', port: () => 0, enabled: () => true, create: (ctx) => new ThreadsPrimary(ctx, n) },
    {
      name: 'Servers',
      port: (c) => c.servers.port,
      enabled: (c) => c.servers.port > 0 || c.servers.targets.trim() !== '',
      create: (ctx) => new ClusterServer(ctx),
    },
  ];
}
