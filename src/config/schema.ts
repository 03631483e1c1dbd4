/**
 * The process-level keys src/config owns: the top-level ones, [scripts], [logs] and [publication]
 * (application.dir and logs.directory are paths the loader resolves). The keys of a
 * protocol's section live with that protocol (config/section.ts), composed by src/registry.ts.
 * Defaults are MonaServer's documented ones where MonaServer has the key. A bad value never stops
 * the server: it is reported and the default is used, or (keepalives, as MonaServer does) clamped
 * into range with a warning.
 */
import { MAX_INT32, sectionKeys, type AnySection, type ConfigSection, type KeySpec, type SectionKey } from './section';
import type { Config, PublicationSettings } from './types';

/** The top-level keys (before any section header), writing into Config itself. */
export const TOP_KEYS: readonly KeySpec[] = [
  { section: '', key: 'host', kind: 'string', set: (c, v) => (c.host = v as string) },
  {
    section: '', key: 'socketbuffersize', kind: 'int', min: 0, max: MAX_INT32,
    set: (c, v) => (c.socketBufferSize = v as number),
  },
  {
    section: '', key: 'threads', kind: 'int', min: 0, max: 1024, set: (c, v) => (c.threads = v as number),
  },
  // application.dir is resolved by the loader (relative to the ini's folder)
];

/** A publication setting: valid in `[publication]` and in each `[name=Publication]` section. */
export const PUBLICATION_KEYS: readonly SectionKey<Partial<PublicationSettings>>[] = [
  { key: 'segments', kind: 'int', min: 0, max: 255, empty: '4', set: (t, v) => (t.segments = v as number) },
  { key: 'duration', kind: 'int', min: 0, max: 60_000, set: (t, v) => (t.duration = v as number) },
  { key: 'partduration', kind: 'int', min: 0, max: 5_000, set: (t, v) => (t.partDuration = v as number) },
  { key: 'hlsmemory', kind: 'int', min: 1 << 20, max: 2 ** 32, set: (t, v) => (t.hlsMemory = v as number) },
  { key: 'append', kind: 'boolean', set: (t, v) => (t.append = v === 'true') },
];

const SCRIPTS: ConfigSection<'scripts'> = {
  name: 'scripts',
  defaults: () => ({ budget: 500, startBudget: 10_000, memory: 512 }),
  keys: [
    { key: 'budget', kind: 'int', min: 0, max: 600_000, set: (s, v) => (s.budget = v as number) },
    { key: 'startbudget', kind: 'int', min: 0, max: 3_600_000, set: (s, v) => (s.startBudget = v as number) },
    { key: 'memory', kind: 'int', min: 0, max: 1_048_576, set: (s, v) => (s.memory = v as number) },
  ],
};

const LOGS: ConfigSection<'logs'> = {
  name: 'logs',
  // logs.directory is resolved by the loader (relative to application.dir)
  defaults: () => ({ directory: 'logs', name: 'log', rotation: 10, maxSize: 1_000_000 }),
  keys: [
    { key: 'name', kind: 'filename', set: (l, v) => (l.name = v as string) },
    { key: 'rotation', kind: 'int', min: 0, max: 1000, set: (l, v) => (l.rotation = v as number) },
    { key: 'maxsize', kind: 'int', min: 0, max: MAX_INT32, set: (l, v) => (l.maxSize = v as number) },
  ],
};

const PUBLICATION: ConfigSection<'publication'> = {
  name: 'publication',
  defaults: () => ({ segments: 5, duration: 2000, partDuration: 500, hlsMemory: 64 << 20, append: false }),
  keys: PUBLICATION_KEYS,
};

/** The process-level sections, read whatever is registered. */
export const CORE_SECTIONS: readonly AnySection[] = [SCRIPTS, LOGS, PUBLICATION];

/** Every typed key: the top-level ones, the core sections', then those of `sections`. */
export function configKeys(sections: readonly AnySection[]): KeySpec[] {
  return [...TOP_KEYS, ...sectionKeys([...CORE_SECTIONS, ...sections])];
}

/**
 * The defaults of every key of the core and of `sections` (the registered ones: src/registry.ts
 * `defaultConfig`); `dir` is the working directory, the application dir unless the ini says
 * otherwise. A section named twice is a wiring mistake, refused here.
 */
export function composeDefaults(dir: string, sections: readonly AnySection[]): Config {
  const config: Record<string, unknown> = {
    host: '',
    socketBufferSize: 0,
    threads: 0,
    application: { dir },
    publications: {},
    raw: {},
  };
  for (const s of [...CORE_SECTIONS, ...sections]) {
    if (s.name in config) throw new Error(`configuration section ${s.name} is registered twice`);
    config[s.name] = s.defaults(dir);
  }
  return config as unknown as Config;
}
