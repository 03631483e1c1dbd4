/**
 * `threads` (MonaServer.ini, top level): how many worker processes serve the protocols. 1 is one
 * process for everything (no hop between protocols and scripts); N > 1 starts a primary that runs
 * the scripts, `data` and the server link, and N workers (primary.ts, worker.ts); 0 is automatic.
 */
import * as os from 'node:os';
import type { Config } from '../config/types';
import { PROTOCOLS, protocolEnabled, type ProtocolEntry } from '../server';
import { ClusterServer } from '../cluster/server';
import { ThreadsPrimary } from './primary';

/**
 * The worker count `threads` asks for (0 = automatic). Automatic is one process: measured on two
 * cores (docs/cluster.md), two workers do not deliver more than one process, and N workers change
 * what a MonaServer user relies on (per-worker connection caps, a hop per script event, RTMFP in
 * one worker), so more than one is asked for, with a number.
 */
export function threadCount(config: Config): number {
  return config.threads > 0 ? config.threads : AUTOMATIC_THREADS;
}

export const AUTOMATIC_THREADS = 1;

/** the machine's cores, for the log line that says how many workers run */
export function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** What the primary of `threads = n` runs instead of the protocols: the workers, and the server link. */
export function primaryProtocols(n: number): ProtocolEntry[] {
  return [
    {
      name: 'Workers',
      port: () => 0,
      // nothing for workers to serve: the server says that every protocol port is 0
      enabled: (c) => PROTOCOLS.some((p) => p.name !== 'Servers' && protocolEnabled(p, c)),
      create: (ctx) => new ThreadsPrimary(ctx, n),
    },
    {
      name: 'Servers',
      port: (c) => c.servers.port,
      enabled: (c) => c.servers.port > 0 || c.servers.targets.trim() !== '',
      create: (ctx) => new ClusterServer(ctx),
    },
  ];
}
