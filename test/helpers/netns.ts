/**
 * A network namespace with only loopback up, for tests whose clients must not reach anything but
 * 127.0.0.1 (librtmfp hands its peers every interface address of the host, and peers then send
 * there). Creating one needs root (CAP_SYS_ADMIN) and iproute2; `createNetns` returns the reason
 * when it cannot, so the caller can skip with it. Processes started with `spawn` run inside it.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Netns {
  readonly name: string;
  /** `ip netns exec NAME cmd args…`: ip and stdbuf exec in place, so the pid is the command's */
  spawn(cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** deletes the namespace (its processes must be gone first) */
  remove(): void;
}

let counter = 0;

export function createNetns(prefix = 'monats'): Netns | string {
  const name = `${prefix}-${process.pid}-${++counter}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.error) return `cannot run ip (${add.error.message})`;
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim() || `status ${add.status}`} (needs root)`;
  const up = spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (up.status !== 0) {
    spawnSync('ip', ['netns', 'delete', name]);
    return `cannot bring lo up in ${name}: ${up.stderr.trim()}`;
  }
  return {
    name,
    spawn: (cmd, args, options = {}) => spawn('ip', ['netns', 'exec', name, cmd, ...args], options),
    remove: () => {
      spawnSync('ip', ['netns', 'delete', name]);
    },
  };
}

/** The interfaces a namespace has up (the tests assert it is loopback alone). */
export function interfacesUp(ns: Netns): string[] {
  const r = spawnSync('ip', ['-n', ns.name, '-o', 'link', 'show', 'up'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s*([^:@]+)/.exec(l)?.[1])
    .filter((x): x is string => !!x);
}
