/**
 * The server process: config → logger → www/ (from the bundled sample when missing) and
 * data/ → ServerContext → app host → every protocol whose port is not 0 → admin listener → banner;
 * stop() undoes it in order. Used by the CLI and by tests that want a server in-process
 * (`startServer`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAdminHandler } from './admin/api';
import { adminRouter } from './admin/router';
import { ProcessMonitor } from './admin/process-monitor';
import type { Config } from './config/types';
import { FolderHost, type AppHost } from './core/app-host';
import { ServerContext } from './core/context';
import { Recordings } from './recording/recordings';
import { createScriptHost } from './scripting/engines';
import { ProtocolUnavailable, type ProtocolEntry, type ProtocolServer } from './core/protocol';
import type { LogFormat } from './logs/format';
import { Level } from './logs/levels';
import { ServerLogger } from './logs/logger';
import { HTTPServer } from './protocols/http/server';
import { PROTOCOLS, loadConfig } from './registry';

export { PROTOCOLS } from './registry';
export type { ProtocolEntry } from './core/protocol';

/** Whether the server starts `entry` with `config`. */
export function protocolEnabled(entry: ProtocolEntry, config: Config): boolean {
  return entry.enabled ? entry.enabled(config) : entry.port(config) !== 0;
}

/** The application layer: the script apps of www/ (tests may pass `appHost`, e.g. a script-less FolderHost). */
export const createAppHost: (context: ServerContext) => AppHost = (context) => createScriptHost(context);

export interface ServerOptions {
  /** --config (default MonaServer.ini in cwd; an explicit path must exist) */
  configPath?: string;
  /** applied after the ini: "section.key" → value, e.g. { 'RTMP.port': '0' } */
  overrides?: Record<string, string>;
  /** working directory (default process.cwd()) */
  cwd?: string;
  /** --log */
  logLevel?: Level;
  /** --log-format (default text) */
  logFormat?: LogFormat;
  /** --dump: null/undefined = off, "" = all */
  dump?: string | null;
  /** --dumplimit */
  dumpLimit?: number;
  /** the command-line options given (name → value, "" for a flag): `mona.arguments` in scripts */
  arguments?: Record<string, string>;
  /** console stream for logs; null = none (daemon); default stdout */
  console?: NodeJS.WritableStream | null;
  /** protocols to run instead of PROTOCOLS (tests, the processes of `threads`), or a choice made from the configuration */
  protocols?: readonly ProtocolEntry[] | ((config: Config) => readonly ProtocolEntry[]);
  /** false: no admin listener (the workers of `threads`: the primary has it) */
  admin?: boolean;
  /** false: no log file (the workers of `threads` send their lines to the primary, which writes them) */
  logFile?: boolean;
  /**
   * true: the start-up and stop lines (banner, configuration warnings, "started on", "stopped")
   * are DEBUG lines (the workers of `threads`: the primary says them once for all)
   */
  quiet?: boolean;
  /** app host to use instead of createAppHost (tests) */
  appHost?: (context: ServerContext) => AppHost;
}

/** The server could not start at all (explicit --config unreadable, www/ not creatable, nothing listening...). */
export class StartupError extends Error {}

/** The sample applications shipped with the package (www/ beside dist/), copied into a new app dir. */
export const SAMPLE_WWW = path.join(__dirname, '..', '..', 'www');

export function version(): string {
  for (const candidate of [path.join(__dirname, '..', '..', 'package.json'), path.join(__dirname, '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.version) return pkg.version;
    } catch {
      // try the next place (dist/src vs src layouts)
    }
  }
  return '0.0.0';
}

export const PRODUCT = 'monats';

export class Server {
  readonly config: Config;
  readonly logger: ServerLogger;
  readonly context: ServerContext;
  /** protocols that are listening */
  readonly running: ProtocolServer[] = [];
  /** one line per protocol that could not start */
  readonly failures: string[] = [];
  /** absolute path of the ini looked for, and whether it was there */
  readonly configFile: { path: string; found: boolean };
  private stopping: Promise<void> | null = null;
  /** keeps the process alive like MonaServer's wait for a terminate signal, even with nothing listening */
  private keepAlive: NodeJS.Timeout | null = null;
  /** the admin listener (API, metrics, dashboard), when `[admin] port` is not 0 and it could bind */
  admin: HTTPServer | null = null;
  readonly processMonitor = new ProcessMonitor();
  /** recordings of publications (publish "record"/"append", `OUT` lines of `[name=Publication]`) */
  readonly recordings: Recordings;
  /** www/ did not exist and was made from the bundled sample */
  readonly wwwFromSample: boolean = false;

  constructor(private readonly options: ServerOptions = {}) {
    const loaded = loadConfig(options.configPath, options.overrides, {
      cwd: options.cwd,
      required: options.configPath !== undefined,
    });
    if (loaded.fatal) throw new StartupError(loaded.fatal);
    this.config = loaded.config;
    // as MonaServer, the command line is part of the configuration scripts read
    if (options.arguments) this.config.raw.arguments = { ...options.arguments };
    this.configFile = { path: loaded.path, found: loaded.found };
    const { logs } = this.config;
    this.logger = new ServerLogger({
      level: options.logLevel ?? Level.INFO,
      console: options.console,
      file: options.logFile === false ? null : { directory: logs.directory, name: logs.name, rotation: logs.rotation, maxSize: logs.maxSize },
      dump: options.dump ?? null,
      dumpLimit: options.dumpLimit ?? -1,
      format: options.logFormat,
    });
    const quiet = options.quiet === true;
    for (const w of loaded.warnings) this.logger.log(quiet ? Level.DEBUG : Level.WARN, 'Config', w);
    for (const e of loaded.errors) this.logger.log(quiet ? Level.DEBUG : Level.ERROR, 'Config', e);

    const www = path.join(this.config.application.dir, 'www');
    const data = path.join(this.config.application.dir, 'data');
    try {
      // a new application dir gets the sample apps (a root app and live/), so that
      // rtmp://host/live/<name> works at once; an existing www/, even empty, is the user's choice
      if (!fs.existsSync(www) && fs.existsSync(path.join(SAMPLE_WWW, 'main.lua'))) {
        fs.cpSync(SAMPLE_WWW, www, { recursive: true });
        this.wwwFromSample = true;
      }
      fs.mkdirSync(www, { recursive: true });
      fs.mkdirSync(data, { recursive: true });
    } catch (err) {
      throw new StartupError(`cannot create ${www} and ${data}: ${(err as Error).message}`);
    }
    this.context = new ServerContext(this.config, this.logger, new FolderHost(www), version());
    this.recordings = new Recordings(this.context);
  }

  /** Starts the app host then every enabled protocol; resolves once all have tried to bind. */
  async start(): Promise<void> {
    const { logger, context } = this;
    const config = this.configFile.found ? this.configFile.path : `${this.configFile.path} not found, defaults used`;
    const note = this.options.quiet ? Level.DEBUG : Level.NOTE;
    logger.log(note, 'Server', `${PRODUCT} ${context.version} (MonaServer-compatible), application dir ${this.config.application.dir}, configuration ${config}`);
    const sample = this.wwwFromSample ? ' (new: a copy of the bundled sample, with live/ for rtmp://host/live/<name>)' : '';
    logger.log(note, 'Server', `serving applications from ${context.wwwDir}${sample}`);

    this.keepAlive = setInterval(() => {}, 1 << 30);
    context.host = (this.options.appHost ?? createAppHost)(context);
    context.host.start();
    this.recordings.start();

    // protocols that cannot run for one shared reason (the TLS certificate): one line for them all
    const unavailable = new Map<string, string[]>();
    const chosen = this.options.protocols;
    for (const entry of typeof chosen === 'function' ? chosen(this.config) : chosen ?? PROTOCOLS) {
      const port = entry.port(this.config);
      if (!protocolEnabled(entry, this.config)) {
        logger.debug('Server', `${entry.name} disabled (${port === 0 ? 'port 0' : 'not configured'})`);
        continue;
      }
      let server: ProtocolServer;
      try {
        server = entry.create(context);
        await server.start();
      } catch (err) {
        if (err instanceof ProtocolUnavailable) {
          const names = unavailable.get(err.message) ?? [];
          unavailable.set(err.message, [...names, entry.name]);
          this.failures.push(`${entry.name} disabled: ${err.message}`);
          continue;
        }
        // the workers of `threads` report their protocols' own failures, one line each
        const reported = (err as { failures?: unknown }).failures;
        const lines = Array.isArray(reported) && reported.length ? (reported as string[]) : [bindFailure(entry.name, port, err)];
        for (const line of lines) {
          this.failures.push(line);
          logger.log(this.options.quiet ? Level.DEBUG : Level.ERROR, line.slice(0, line.indexOf(' ')) || entry.name, line);
        }
        continue;
      }
      this.running.push(server);
      for (const address of server.addresses()) logger.log(note, server.name, `${server.name} server started on ${address}`);
    }
    for (const [message, names] of unavailable) {
      const others = this.running.length ? ', the other ports keep running' : '';
      // a worker of `threads` reports them to the primary, which says them once
      logger.log(this.options.quiet ? Level.DEBUG : Level.ERROR, names.join(', '), `${names.join(' and ')} not started: ${message}${others}`);
    }
    if (this.running.length === 0) {
      const why = this.failures.length ? this.failures.join('; ') : 'every protocol port is 0';
      throw new StartupError(`no protocol is listening (${why})`);
    }
    if (this.options.admin !== false) await this.startAdmin();
  }

  /** The admin listener: a port it cannot bind is one error line, as for protocols. */
  private async startAdmin(): Promise<void> {
    const { logger, context } = this;
    const { port, host } = this.config.admin;
    if (port === 0) {
      logger.debug('Server', 'admin listener disabled (port 0)');
      return;
    }
    this.processMonitor.start();
    const handler = createAdminHandler({
      context,
      configFile: this.configFile,
      listening: () => this.running.flatMap((p) => p.listening?.() ?? [{ protocol: p.name, addresses: p.addresses() }]),
      processSnapshot: () => this.processMonitor.snapshot(),
    });
    const admin = new HTTPServer(context, {
      name: 'Admin',
      port,
      host,
      router: adminRouter(handler, (message) => logger.error('Admin', message)),
      banner: 'HTTP: API, metrics, dashboard',
    });
    try {
      await admin.start();
    } catch (err) {
      const line = bindFailure('Admin', port, err);
      this.failures.push(line);
      logger.error('Admin', line);
      return;
    }
    this.admin = admin;
    const auth = this.config.admin.password ? 'password required' : 'no password: keep it on a private address';
    for (const address of admin.addresses()) logger.note('Admin', `Admin server started on ${address}, ${auth}`);
  }

  /**
   * Clean shutdown: every protocol stops accepting and closes its sessions (apps get their
   * onDisconnection while still alive), then the app host calls onStop of every app and flushes
   * data/, then the log file is flushed. Safe to call twice.
   */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { logger } = this;
    logger.log(this.options.quiet ? Level.DEBUG : Level.INFO, 'Server', 'stopping');
    const admin = this.admin;
    this.admin = null;
    this.processMonitor.stop();
    if (admin) await admin.stop().catch((err: unknown) => logger.error('Admin', `admin stop failed: ${(err as Error).message}`));
    await Promise.all(
      this.running.map((p) =>
        p.stop().catch((err: unknown) => logger.error(p.name, `${p.name} stop failed: ${(err as Error).message}`)),
      ),
    );
    this.running.length = 0;
    // publishers are gone: the files they fed are finalised before the apps stop
    await this.recordings.stop().catch((err: unknown) => logger.error('Record', `recordings stop failed: ${(err as Error).message}`));
    try {
      await this.context.host.stop();
    } catch (err) {
      logger.error('Server', `applications stop failed: ${(err as Error).message}`);
    }
    if (this.keepAlive) clearInterval(this.keepAlive);
    logger.log(this.options.quiet ? Level.DEBUG : Level.NOTE, 'Server', 'Server stopped');
    await this.logger.close();
  }
}

/** Creates and starts a server; the caller stops it with `server.stop()`. */
export async function startServer(options: ServerOptions = {}): Promise<Server> {
  const server = new Server(options);
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
  EINVAL: 'invalid address',
};

/** "RTMP cannot listen on 0.0.0.0:1935 (address in use)" from whatever start() rejected with. */
export function bindFailure(name: string, port: number, err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const code = e && typeof e === 'object' ? e.code : undefined;
  let reason = (code && REASONS[code]) ?? (e instanceof Error ? e.message : String(err));
  const bound = e && typeof e === 'object' && typeof e.port === 'number' && e.port > 0 ? e.port : port;
  if (code === 'EACCES' && bound > 0 && bound < 1024) {
    reason += `: ports below 1024 need root; run as a user with a port of 1024 or more, or grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep "$(command -v node)", or AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit)`;
  }
  const where = e && typeof e === 'object' && e.address ? `${e.address}:${e.port ?? port}` : `port ${port}`;
  return `${name} cannot listen on ${where} (${reason})`;
}
