/**
 * The bounds every TCP connection lives under, read once from the typed config (`[TCP]` section,
 * docs/limits.md). Protocols get them through their TCPListener.
 */
import * as fs from 'node:fs';
import type { Config } from '../config/types';

export interface TransportLimits {
  /** connections held at once by all the listeners of one server (0 = no cap) */
  maxConnections: number;
  /** connections held at once from one IP address (0 = no cap) */
  maxConnectionsPerIP: number;
  /** bytes queued towards a peer above which its input is paused (resumed once drained) */
  outputLimit: number;
  /** a peer whose queue stays above outputLimit this long is dropped (0 = never) */
  stallTimeoutMs: number;
}

/** Bytes written while corked beyond which a connection uncorks without waiting for the tick. */
export const CORK_LIMIT = 64 * 1024;
/** The coalescing tick: corked connections are uncorked together this often. */
export const FLUSH_INTERVAL_MS = 50;
/** File descriptors kept out of the automatic connection cap: logs, www/ files, data/, child pipes. */
export const FD_RESERVE = 128;

/**
 * The soft open-file limit of this process (Linux /proc), null when it cannot be read or is
 * unlimited. Node has no getrlimit.
 */
export function openFileLimit(): number | null {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'latin1');
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
    if (!m || m[1] === 'unlimited') return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Descriptors this process holds now (Linux), null when unknown; Infinity when even reading them
 * needs a descriptor there is none left for.
 */
export function openFileCount(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? Infinity : null;
  }
}

/** maxConnections -1 = automatic: the open-file limit less a reserve, so accept never meets EMFILE. */
export function transportLimits(config: Config): TransportLimits {
  const t = config.tcp;
  let max = t.maxConnections;
  if (max < 0) {
    const fds = openFileLimit();
    max = fds === null ? 0 : Math.max(16, fds - FD_RESERVE);
  }
  return {
    maxConnections: max,
    maxConnectionsPerIP: t.maxConnectionsPerIP,
    outputLimit: t.outputLimit,
    stallTimeoutMs: Math.round(t.stallTimeout * 1000),
  };
}
