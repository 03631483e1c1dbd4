/**
 * The one way tests start a server in-process: `startServer` (the real wiring: config read from ini
 * keys, logger, app host, protocols, recordings) on an application folder, each of RTMP, RTMFP,
 * HTTP, RTMPS and HTTPS (these two run when a certificate is configured) on a free port of
 * 127.0.0.1, admin off, log lines captured. RTSP is not served: its port is left alone (a value for
 * it would only be warned about). A MonaServer.ini the test wrote in the folder is read first. The
 * protocol fixtures (rtmp, rtmfp, http, flash, tls, scripting) are thin wrappers over it. The
 * caller stops it with `stop()`, which removes the folder when the helper made it.
 *
 * No node:test import (directly or through helpers/temp): a test server also runs as a child
 * process (rtmfp-server.ts run by hand or by a test, the benchmarks' server).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { AppHost } from '../../src/core/app-host';
import type { ServerContext } from '../../src/core/context';
import type { ProtocolServer } from '../../src/core/protocol';
import { LEVEL_NAMES } from '../../src/logs/format';
import { Level } from '../../src/logs/levels';
import { startServer, StartupError, type ProtocolEntry, type Server } from '../../src/server';
import { freePorts, type Ports } from './ports';

export type TestProtocol = 'RTMP' | 'RTMFP' | 'HTTP' | 'RTMPS' | 'HTTPS';

export interface TestServerOptions {
  /**
   * the application folder (www/ inside) when the test made it itself, e.g. to start again on the
   * same data/; kept by `stop()`. Default: a new temp folder that `stop()` removes.
   */
  dir?: string;
  /**
   * apps written under www/: app path ("" root, "live", "Games/myGame") → its main file's content
   * ("main.lua" unless `file` says), or null for a folder without main file
   */
  apps?: Record<string, string | null | { file: string; code: string }>;
  /** ini keys ("section.key" or "key" → value) applied after the test's ports, as if in MonaServer.ini */
  overrides?: Record<string, string>;
  /** protocols kept off (port 0) */
  off?: TestProtocol[];
  /** the protocol list instead of the registered ones (startServer's `protocols`) */
  protocols?: ProtocolEntry[];
  /** the app host instead of the script runtime (startServer's `appHost`), e.g. a scripted TestHost */
  appHost?: (context: ServerContext) => AppHost;
  /** the command line scripts read as mona.arguments (startServer's `arguments`) */
  arguments?: Record<string, string>;
  /** default INFO (DEBUG with TEST_SERVER_LOG) */
  level?: Level;
  /** where lines also go as text (default stderr with TEST_SERVER_LOG set, else nowhere) */
  echo?: NodeJS.WritableStream | null;
}

export interface LogLine {
  level: Level;
  source: string;
  message: string;
}

export interface TestServer {
  server: Server;
  context: ServerContext;
  /** the application folder */
  dir: string;
  /** its www/ */
  www: string;
  /** the ports of the configuration the server runs (0 = that protocol is off) */
  ports: Ports;
  /** the running protocol server of that name ("RTMP", "RTMFP", "HTTP", "Servers"...); throws when it is not running */
  protocol<T extends ProtocolServer = ProtocolServer>(name: string): T;
  /** every line logged so far */
  lines(): LogLine[];
  /** the same as text, one "LEVEL  source  message" per line */
  log(): string;
  stop(): Promise<void>;
}

const LEVELS = new Map(Object.entries(LEVEL_NAMES).map(([level, name]) => [name, Number(level) as Level]));

/** "WARN   RTMP  message": a log line without its time, as tests match it */
export function formatTestLine(l: LogLine): string {
  return `${(LEVEL_NAMES[l.level] ?? String(l.level)).padEnd(6)} ${l.source}  ${l.message}`;
}

/** Folders this helper made, removed at exit when a test did not get to stop its server. */
const made = new Set<string>();
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** Tries this many sets of free ports: another process may take one between the check and the bind. */
const BIND_ATTEMPTS = 5;

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const own = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'monats-server-'));
  if (own) made.add(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www, { recursive: true });
  for (const [app, main] of Object.entries(options.apps ?? {})) {
    const appDir = path.join(www, app);
    fs.mkdirSync(appDir, { recursive: true });
    if (main === null) continue;
    const { file, code } = typeof main === 'string' ? { file: 'main.lua', code: main } : main;
    fs.writeFileSync(path.join(appDir, file), code);
  }
  const off = new Set(options.off ?? []);
  const echo = options.echo !== undefined ? options.echo : process.env.TEST_SERVER_LOG ? process.stderr : null;

  // the console in JSON, one object per line, kept as written and parsed when a test asks: lines
  // stay exact (multi-line messages, sources with spaces) and a busy test pays no parsing
  let raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const json of chunk.toString().split('\n')) {
        if (!json) continue;
        raw.push(json);
        if (echo) echo.write(formatTestLine(parse(json)) + '\n');
      }
      done();
    },
  });
  const lines = (): LogLine[] => raw.map(parse);

  let server: Server | null = null;
  for (let attempt = 1; !server; attempt++) {
    const ports = await freePorts();
    raw = [];
    let failure: string;
    try {
      const started = await startServer({
        cwd: dir,
        console: sink,
        logFormat: 'json',
        logLevel: options.level ?? (process.env.TEST_SERVER_LOG ? Level.DEBUG : Level.INFO),
        protocols: options.protocols,
        appHost: options.appHost,
        arguments: options.arguments,
        overrides: {
          'application.dir': dir,
          'RTMP.port': off.has('RTMP') ? '0' : String(ports.rtmp),
          'RTMFP.port': off.has('RTMFP') ? '0' : String(ports.rtmfp),
          'HTTP.port': off.has('HTTP') ? '0' : String(ports.http),
          'RTMPS.port': off.has('RTMPS') ? '0' : String(ports.rtmps),
          'HTTPS.port': off.has('HTTPS') ? '0' : String(ports.https),
          'RTMP.host': '127.0.0.1',
          'RTMFP.host': '127.0.0.1',
          'HTTP.host': '127.0.0.1',
          'RTMPS.host': '127.0.0.1',
          'HTTPS.host': '127.0.0.1',
          'admin.port': '0',
          'logs.directory': path.join(dir, 'logs'),
          ...options.overrides,
        },
      });
      // a port taken meanwhile is worth another try; other failures (a bad certificate...) are the test's
      if (!started.failures.some(portTaken)) {
        server = started;
        break;
      }
      failure = started.failures.join('; ');
      await started.stop();
    } catch (err) {
      if (!(err instanceof StartupError && portTaken(err.message))) {
        if (own) {
          fs.rmSync(dir, { recursive: true, force: true });
          made.delete(dir);
        }
        throw err;
      }
      failure = err.message;
    }
    if (attempt >= BIND_ATTEMPTS) {
      if (own) {
        fs.rmSync(dir, { recursive: true, force: true });
        made.delete(dir);
      }
      throw new Error(`the test server did not start (${attempt} attempts): ${failure}\n${lines().map(formatTestLine).join('\n')}`);
    }
  }
  const running = server;
  const { config } = running;
  return {
    server: running,
    context: running.context,
    dir,
    www,
    ports: {
      rtmp: config.rtmp.port,
      rtmfp: config.rtmfp.port,
      http: config.http.port,
      rtmps: config.rtmps.port,
      https: config.https.port,
      rtsp: config.rtsp.port,
      admin: config.admin.port,
    },
    protocol<T extends ProtocolServer = ProtocolServer>(name: string): T {
      const p = running.running.find((x) => x.name === name);
      if (!p) throw new Error(`${name} is not running (running: ${running.running.map((x) => x.name).join(', ') || 'none'})`);
      return p as T;
    },
    lines,
    log: () => lines().map(formatTestLine).join('\n'),
    async stop() {
      await running.stop();
      if (own) {
        // retries: a socket or file of the server may still be closing in there
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
        made.delete(dir);
      }
    },
  };
}

/** A failure line of startServer saying a port was taken (bindFailure's words for EADDRINUSE). */
const portTaken = (failure: string): boolean => failure.includes('(address in use)');

function parse(json: string): LogLine {
  try {
    const o = JSON.parse(json) as { level?: string; source?: string; message?: string };
    return { level: LEVELS.get(o.level ?? '') ?? Level.INFO, source: String(o.source ?? ''), message: String(o.message ?? '') };
  } catch {
    // a packet dump's hex lines are not JSON
    return { level: Level.INFO, source: '', message: json };
  }
}
