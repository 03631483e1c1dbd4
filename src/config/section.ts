/**
 * The contract between src/config and the folders that own an ini section. src/config parses and
 * validates the ini and owns the process-level keys (schema.ts); it knows no protocol. Each folder
 * that reads a section of its own (src/protocols/rtmp, src/cluster, src/admin…) exports:
 * - the type of its slice, added to `Config` by declaration merging
 *   (`declare module '../../config/types' { interface Config { rtmp: RTMPSettings } }`), so that
 *   `config.rtmp.port` is typed wherever a Config is;
 * - a `ConfigSection` (its defaults and its typed keys, each writing into that slice), next to its
 *   registration (src/core/protocol.ts `Registration`).
 * src/registry.ts lists the registrations and hands their sections to the loader.
 */
import type { Config } from './types';

export const MAX_INT32 = 2 ** 31 - 1;

export type KeyKind = 'port' | 'int' | 'seconds' | 'string' | 'filename' | 'boolean';

/** How the text of one value is checked (validate()). */
export interface KeyRule {
  kind: KeyKind;
  min?: number;
  max?: number;
  /** out of [min,max]: clamp with a warning instead of rejecting the value */
  clamp?: boolean;
  /** the value of `key=` written without a value (MonaServer2: `segments=` means 4), else an error */
  empty?: string;
  /**
   * Set for a key the server reads but does not act on yet: a value written in the ini is reported
   * once at start with this reason, so nobody believes it works. Removed when the feature lands.
   */
  notInEffect?: string;
  /** with notInEffect: a value that asks for what the server does anyway (port 0: off), said nothing */
  inEffectValue?: number | string;
}

/** One key of a section: its name and how a valid value goes into the section's slice `T`. */
export interface SectionKey<T> extends KeyRule {
  /** key lower-cased */
  key: string;
  set(slice: T, value: number | string): void;
}

/** One `[name]` section of the ini (any case), filling `config[name]`. */
export interface ConfigSection<K extends keyof Config> {
  name: K;
  /** its values when the ini says nothing; `dir` is the working directory */
  defaults(dir: string): Config[K];
  keys: readonly SectionKey<Config[K]>[];
  /**
   * String fields holding a file path: a relative one is taken from the ini's folder (from the
   * working directory when it comes from the command line), and so is an unwritten default (its
   * file name, beside the ini), as MonaServer2 does, running in the ini's folder. Empty stays empty.
   */
  paths?: readonly (keyof Config[K] & string)[];
}

/** A section of any name: what lists of sections hold. */
export type AnySection = { [K in keyof Config]: ConfigSection<K> }[keyof Config];

/** One typed key with its section, writing into the whole Config: what the loader walks. */
export interface KeySpec extends KeyRule {
  /** section lower-cased ("" = top level) */
  section: string;
  /** key lower-cased */
  key: string;
  set(config: Config, value: number | string): void;
}

/** Every key of `sections`, each writing into its section's slice. */
export function sectionKeys(sections: readonly AnySection[]): KeySpec[] {
  const out: KeySpec[] = [];
  for (const s of sections) {
    const name = s.name;
    for (const k of s.keys as readonly SectionKey<unknown>[])
      out.push({ ...k, section: name.toLowerCase(), set: (config, value) => k.set(config[name], value) });
  }
  return out;
}

/**
 * Checks one value against its rule. Returns the typed value, or an error text (the caller keeps
 * the default). `warning` is set when the value was clamped.
 */
export function validate(spec: KeyRule, text: string): { value?: number | string; error?: string; warning?: string } {
  if (text === '' && spec.empty !== undefined) text = spec.empty;
  switch (spec.kind) {
    case 'boolean': {
      const t = text.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(t)) return { value: 'true' };
      if (['false', 'no', 'off', '0'].includes(t)) return { value: 'false' };
      return { error: `"${text}" is not a boolean (true or false)` };
    }
    case 'string':
      return { value: text };
    case 'filename':
      if (text === '' || /[\\/]/.test(text) || text === '.' || text === '..')
        return { error: `"${text}" is not a plain file name` };
      return { value: text };
    case 'port': {
      if (!/^\d+$/.test(text)) return { error: `"${text}" is not a port number (0 disables, 1..65535)` };
      const n = Number(text);
      if (n > 65535) return { error: `${n} is not a port number (0 disables, 1..65535)` };
      return { value: n };
    }
    case 'int':
    case 'seconds': {
      const pattern = spec.kind === 'int' ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)$/;
      if (!pattern.test(text)) return { error: `"${text}" is not ${spec.kind === 'int' ? 'an integer' : 'a number of seconds'}` };
      let n = Number(text);
      const min = spec.min ?? 0;
      const max = spec.max ?? MAX_INT32;
      if (n < min || n > max) {
        if (!spec.clamp) return { error: `${n} is out of range ${min}..${max}` };
        const clamped = Math.min(max, Math.max(min, n));
        const warning = `${n} is out of range ${min}..${max}, using ${clamped}`;
        n = clamped;
        return { value: n, warning };
      }
      return { value: n };
    }
  }
}
