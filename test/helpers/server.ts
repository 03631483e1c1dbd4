/**
 * The one way tests start a whole server in-process: `startServer` (the real wiring: config, app
 * host, every protocol, admin) on a temp application folder holding the given apps, every
 * protocol on a free port of 127.0.0.1, logs captured. The caller stops it with `stop()`, which
 * also removes the folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { startServer, type Server } from '../../src/server';
import { Level } from '../../src/logs/levels';
import { freePorts, type Ports } from '../process/helpers';
import { tempDir } from './temp';

export interface TestServerOptions {
  /** app path ("" root, "live", "Games/myGame") → its main file's content ("main.lua" unless `file` says) */
  apps?: Record<string, string | { file: string; code: string }>;
  /** ini keys ("section.key" → value) applied after the test ports */
  overrides?: Record<string, string>;
  /** protocols to keep off (their port 0) */
  off?: Array<'RTMP' | 'RTMFP' | 'HTTP'>;
  level?: Level;
}

export interface TestServer {
  server: Server;
  dir: string;
  ports: Ports;
  /** everything logged so far */
  log(): string;
  stop(): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = tempDir('monats-server-');
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  for (const [app, main] of Object.entries(options.apps ?? {})) {
    const appDir = path.join(dir, 'www', app);
    fs.mkdirSync(appDir, { recursive: true });
    const { file, code } = typeof main === 'string' ? { file: 'main.lua', code: main } : main;
    fs.writeFileSync(path.join(appDir, file), code);
  }
  const ports = await freePorts();
  const off = new Set(options.off ?? []);
  let text = '';
  const console = new PassThrough();
  console.on('data', (d: Buffer) => (text += d.toString()));
  const server = await startServer({
    cwd: dir,
    console: process.env.TEST_SERVER_LOG ? process.stderr : console,
    logLevel: options.level ?? (process.env.TEST_SERVER_LOG ? Level.DEBUG : Level.INFO),
    overrides: {
      'application.dir': dir,
      'RTMP.port': off.has('RTMP') ? '0' : String(ports.rtmp),
      'RTMFP.port': off.has('RTMFP') ? '0' : String(ports.rtmfp),
      'HTTP.port': off.has('HTTP') ? '0' : String(ports.http),
      'RTSP.port': '0',
      'admin.port': '0',
      'logs.directory': path.join(dir, 'logs'),
      ...options.overrides,
    },
  });
  return {
    server,
    dir,
    ports,
    log: () => text,
    stop: () => server.stop(),
  };
}
