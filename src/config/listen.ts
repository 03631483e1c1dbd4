/**
 * Where a protocol binds. MonaServer reads an optional `host` key in the protocol's own section
 * (`[RTMP] host=127.0.0.1`) as the bind address, 0.0.0.0 otherwise. (MonaServer also falls back on
 * the top-level `host`, but here that one is the public address for redirections, which may
 * carry a port and need not be local, so we do not bind to it.)
 */
import type { Config } from './types';

/** `section` as in the ini, any case: "RTMP", "RTMFP", "HTTP", "RTSP", "servers". */
export function listenHost(config: Config, section: string): string {
  const wanted = section.toLowerCase();
  for (const [name, value] of Object.entries(config.raw)) {
    if (name.toLowerCase() !== wanted || typeof value !== 'object') continue;
    for (const [key, host] of Object.entries(value)) if (key.toLowerCase() === 'host' && host.trim() !== '') return host.trim();
  }
  return '0.0.0.0';
}
