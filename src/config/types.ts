/**
 * Typed configuration: what MonaServer.ini (SPEC S1) turns into. Every protocol and the scripting
 * layer read only this; src/config/ owns parsing and validation.
 */
export interface Config {
  /** public address for redirections, may carry ":port" ("" = none) */
  host: string;
  /** bytes applied to socket send/receive buffers, 0 = OS default */
  socketBufferSize: number;
  /** worker count, 0 = one per core */
  threads: number;
  application: { dir: string }; // absolute; holds www/ and data/
  /** `secret`: shared secret of the server link ("" = none, MonaServer's plain link) */
  servers: { port: number; targets: string; secret: string };
  rtmfp: { port: number; keepaliveServer: number; keepalivePeer: number };
  /** rtmpeRate: RTMPE handshakes per second one IP may start (bursts of twice that), 0 = no limit */
  rtmp: { port: number; rtmpeRate: number };
  /** `headerTimeout`: seconds to receive a whole request head (additive) */
  http: { port: number; timeout: number; index: string; headerTimeout: number };
  rtsp: { port: number };
  websocket: { timeout: number };
  /**
   * TLS (MonaServer2's `[TLS]` section, plus ours): `certificat` and `key` are absolute paths of PEM
   * files (a relative path in the ini is taken from the ini's folder, as MonaServer2 does; the
   * certificate file may hold the chain after it); `ca` ("" = none) is a PEM of authorities whose
   * client certificates are asked for and checked; `ciphers` ("" = OpenSSL's defaults) an OpenSSL
   * cipher list; `handshakeTimeout` seconds for a handshake to complete (0 = none);
   * `handshakeRate` TLS handshakes one IP may start per second (bursts of twice that, and at most
   * that burst in progress at once; 0 = no limit).
   */
  tls: { certificat: string; key: string; ca: string; ciphers: string; handshakeTimeout: number; handshakeRate: number };
  /** HTTP and WebSocket over TLS (MonaServer2's `[HTTPS]`): served like `[HTTP]` (its timeouts and index) */
  https: { port: number };
  /** RTMP over TLS (MonaServer2's `[RTMPS]`) */
  rtmps: { port: number };
  /**
   * Every TCP listener (additive section, docs/limits.md): connection caps (0 = none; maxConnections
   * -1 = from the open-file limit), bytes queued towards a peer above which its input is paused, and
   * seconds a peer may stay above that before it is dropped (0 = never).
   */
  tcp: { maxConnections: number; maxConnectionsPerIP: number; outputLimit: number; stallTimeout: number };
  /**
   * The administration listener (JSON API, Prometheus metrics, dashboard): `port` 0 disables it,
   * `host` is its bind address (loopback unless the ini says otherwise), `password` "" = none.
   */
  admin: { port: number; host: string; password: string };
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
