/**
 * Typed configuration: what MonaServer.ini turns into. Every protocol and the scripting layer read
 * only this; src/config/ owns parsing and validation.
 *
 * `CoreConfig` holds the process-level keys src/config owns (schema.ts). `Config` is CoreConfig
 * plus the section of every folder that registers one (src/protocols/rtmp `rtmp` and `rtmps`,
 * src/transport `tcp` and `tls`, src/cluster `servers`, src/admin `admin`…): each adds its slice
 * here by declaration merging (config/section.ts), and src/registry.ts does not compile when a
 * slice added here has no registered section filling it.
 */
export interface Config extends CoreConfig {}

export interface CoreConfig {
  /** public address for redirections, may carry ":port" ("" = none) */
  host: string;
  /** bytes applied to socket send/receive buffers, 0 = OS default */
  socketBufferSize: number;
  /** worker count, 0 = one per core */
  threads: number;
  application: { dir: string }; // absolute; holds www/ and data/
  /**
   * Script limits (additive section): `budget` ms a script call triggered by a client (connection,
   * RPC, message, publish/play approval, media events, HTTP onRead…) may run before it is
   * interrupted, `startBudget` ms for loading an app, onStart/onStop and onManage, `memory` MiB the
   * Lua VM may allocate (0 = no limit; on the fallback engine not enforced).
   */
  scripts: { budget: number; startBudget: number; memory: number };
  /**
   * `directory` is absolute (a relative one in the ini is taken from application.dir). The file
   * being written is `<directory>/<name>.0` (rotated to `.1` … `.<rotation>`, MonaServer's naming),
   * or `<directory>/<name>` when rotation is 0. `maxSize` (additive, MonaServer's `logs.maxSize`):
   * bytes per file before rotating, 1,000,000 by default, 0 = unlimited.
   */
  logs: { directory: string; name: string; rotation: number; maxSize?: number };
  /**
   * Defaults of every publication (MonaServer2's `[publication]` section): `segments` HLS segments
   * listed (0 = no HLS), `duration` target segment length in ms (0 = one key-frame interval),
   * `partDuration` LL-HLS part length in ms (0 = no parts), `hlsMemory` bytes of segments kept in
   * memory per publication, `append` whether recordings continue an existing file.
   */
  publication: PublicationSettings;
  /**
   * MonaServer2's `[name=Publication]` sections, by publication name as written: settings that
   * override `[publication]` for that name, and its `OUT file` lines (recordings made whenever it
   * is published).
   */
  publications: Record<string, PublicationSection>;
  /**
   * Every section/key as read (lower-cased section names kept as written in the file too), for
   * scripts' `mona.configs`: top-level keys at the root, `[section] key` under section.
   */
  raw: Record<string, string | Record<string, string>>;
}

export interface PublicationSettings {
  segments: number;
  duration: number;
  partDuration: number;
  hlsMemory: number;
  append: boolean;
}

export interface PublicationSection extends Partial<PublicationSettings> {
  /** `OUT <target>` lines, as written after OUT */
  outputs: string[];
}
