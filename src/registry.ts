/**
 * What the server is made of: one registration per folder that owns an ini section or serves a
 * protocol (core/protocol.ts `Registration`). A new protocol is its folder plus one line here; its
 * keys reach the loader, `defaultConfig` and the sample-ini test from this list alone, and
 * src/config stays unaware of it. The order is the protocols' start order.
 */
import { ADMIN_REGISTRATION } from './admin/registration';
import { CLUSTER_REGISTRATION } from './cluster/registration';
import { readConfig, type LoadedConfig, type LoadOptions } from './config/load';
import { composeDefaults, configKeys } from './config/schema';
import type { AnySection, KeySpec } from './config/section';
import type { Config, CoreConfig } from './config/types';
import type { ProtocolEntry } from './core/protocol';
import { HTTP_REGISTRATION } from './protocols/http/registration';
import { RTMFP_REGISTRATION } from './protocols/rtmfp/registration';
import { RTMP_REGISTRATION } from './protocols/rtmp/registration';
import { RTSP_REGISTRATION } from './protocols/rtsp/registration';
import { TRANSPORT_REGISTRATION } from './transport/registration';

const REGISTRATIONS = [
  TRANSPORT_REGISTRATION,
  RTMP_REGISTRATION,
  RTMFP_REGISTRATION,
  HTTP_REGISTRATION,
  RTSP_REGISTRATION,
  CLUSTER_REGISTRATION,
  ADMIN_REGISTRATION,
];

// A folder that adds a slice to Config without registering its section fails to compile here, with
// the slice's name in the message: the loader would never fill it.
type Registered = (typeof REGISTRATIONS)[number]['sections'][number]['name'];
type Unregistered = Exclude<keyof Config, keyof CoreConfig | Registered>;
export const EVERY_SECTION_REGISTERED: [Unregistered] extends [never] ? true : Unregistered = true;

/** Every registered section (the process-level ones of src/config come on top). */
export const SECTIONS: readonly AnySection[] = REGISTRATIONS.flatMap((r): readonly AnySection[] => r.sections);

/**
 * Every protocol the server runs, in start order. A protocol that fails to bind is reported and
 * the others keep running.
 */
export const PROTOCOLS: readonly ProtocolEntry[] = REGISTRATIONS.flatMap((r): readonly ProtocolEntry[] => ('protocols' in r ? r.protocols : []));

/** Every typed key the server reads: the process-level ones and every registered section's. */
export const KEYS: readonly KeySpec[] = configKeys(SECTIONS);

/** The defaults of every key; `dir` is the working directory, the application dir unless the ini says otherwise. */
export function defaultConfig(dir: string): Config {
  return composeDefaults(dir, SECTIONS);
}

/**
 * MonaServer.ini (+ overrides) read with every registered section (config/load.ts `readConfig`):
 * `overrides` are applied after the file, as if written in it, "section.key" or "key" → value.
 */
export function loadConfig(configPath: string | undefined, overrides: Record<string, string> = {}, options: LoadOptions = {}): LoadedConfig {
  return readConfig(SECTIONS, configPath, overrides, options);
}
