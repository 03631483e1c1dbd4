/**
 * The Flash layer seen from both transports: a test server (startTestServer) running RTMP and
 * RTMFP on ephemeral 127.0.0.1 ports, and a `FlashPeer` that drives our RTMP client or our RTMFP
 * client through the same calls, so one test body checks both transports.
 */
import type { AppHost } from '../../../src/core/app-host';
import type { ServerContext } from '../../../src/core/context';
import { StreamRefused } from '../../../src/core/errors';
import { Level } from '../../../src/logs/levels';
import { MessageType } from '../../../src/protocols/flash/messages';
import type { RTMFPServer } from '../../../src/protocols/rtmfp/server';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import type { RTMPServer } from '../../../src/protocols/rtmp/server';
import { encodeAMF0 } from '../../../src/serialization/amf0';
import { Table, type Value } from '../../../src/serialization/value';
import { RtmfpTestClient, type Media } from '../../helpers/rtmfp-client';
import { formatTestLine, startTestServer, type TestServer } from '../../helpers/server';
import { TestHost } from '../../helpers/test-host';

export type Protocol = 'RTMP' | 'RTMFP';
export const PROTOCOLS: Protocol[] = ['RTMP', 'RTMFP'];

/** TestHost refusing the publish or play of the names a test lists, as a script's error() would. */
export class StreamHost extends TestHost {
  /** publication names onPublish refuses (message → Publish.Failed) */
  refusePublish = new Map<string, string>();
  /** publication names onSubscribe refuses (message → Play.Failed) */
  refusePlay = new Map<string, string>();
  constructor(wwwDir: string) {
    super(wwwDir);
    this.publishCheck = (_client, pub) => {
      const why = this.refusePublish.get(pub.name);
      if (why !== undefined) throw new StreamRefused('Publish.Failed', why);
    };
    this.subscribeCheck = (_client, l) => {
      const why = this.refusePlay.get(l.publication.name);
      if (why !== undefined) throw new StreamRefused('Play.Failed', why);
    };
  }
}

export interface FlashServers {
  ctx: ServerContext;
  rtmpPort: number;
  rtmfpPort: number;
  dir: string;
  /** log lines at WARN and above (or `level`), as "LEVEL  source  message" */
  readonly logs: string[];
  /** the whole test server (log lines, the Server object) */
  test: TestServer;
  url(protocol: Protocol, pathAndStream: string): string;
  stop(): Promise<void>;
}

export async function startFlash(
  options: {
    /** app path → its main.lua, or null for a folder (default: a live/ folder) */
    apps?: Record<string, string | null>;
    /** the app host instead of the script runtime */
    host?: (ctx: ServerContext) => AppHost;
    level?: Level;
  } = {},
): Promise<FlashServers> {
  const level = options.level ?? Level.WARN;
  const test = await startTestServer({ apps: options.apps ?? { live: null }, off: ['HTTP'], appHost: options.host, level: Math.max(level, Level.INFO) as Level });
  const rtmpPort = test.protocol<RTMPServer>('RTMP').port;
  const rtmfpPort = test.protocol<RTMFPServer>('RTMFP').boundPort;
  return {
    ctx: test.context,
    rtmpPort,
    rtmfpPort,
    dir: test.dir,
    get logs() {
      return test.lines().filter((l) => l.level <= level).map(formatTestLine);
    },
    test,
    url: (protocol, p) => `${protocol === 'RTMP' ? 'rtmp' : 'rtmfp'}://127.0.0.1:${protocol === 'RTMP' ? rtmpPort : rtmfpPort}/${p.replace(/^\//, '')}`,
    stop: () => test.stop(),
  };
}

export interface ReceivedMedia {
  type: number;
  time: number;
  body: Buffer;
}

/** One Flash client, whichever transport carries it. */
export interface FlashPeer {
  readonly protocol: Protocol;
  /** resolves with the Connect.Success info object; rejects with an Error carrying `info` on `_error` */
  connect(app: string, args?: Value[]): Promise<Table>;
  /** an RPC: resolves with its values, rejects with `info` on `_error` */
  call(name: string, ...args: Value[]): Promise<Value[]>;
  createStream(): Promise<number>;
  /** a NetConnection command without an answer (transaction 0: deleteStream, close...) */
  send(name: string, ...args: Value[]): void;
  /** a NetStream command without an answer (publish, play, pause, seek, closeStream...) */
  command(streamId: number, name: string, ...args: Value[]): void;
  /** info objects of the onStatus received on a stream, in order */
  statuses(streamId: number): Table[];
  waitStatus(streamId: number, code: string, timeoutMs?: number): Promise<Table>;
  /** audio/video/data the peer received on a stream (|RtmpSampleAccess left out) */
  media(streamId: number): ReceivedMedia[];
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  sendMedia(streamId: number, type: number, time: number, body: Buffer): void;
  sendData(streamId: number, values: Value[], time?: number): void;
  /** invocations the server made on this client (writer:writeInvocation, onStatus on the NetConnection) */
  readonly invocations: Array<{ name: string; args: Value[] }>;
  /** the server ended the session */
  readonly closed: boolean;
  close(): Promise<void>;
}

export const codes = (infos: Table[]): string[] => infos.map((i) => String(i.get('code')));

async function poll(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function isSampleAccess(type: number, body: Buffer): boolean {
  return type === MessageType.DataAMF0 && body.length > 3 && body.toString('latin1', 3, 20) === '|RtmpSampleAccess';
}

class RTMPPeer implements FlashPeer {
  readonly protocol = 'RTMP';
  readonly c: RTMPClient;
  constructor(port: number) {
    this.c = new RTMPClient({ port });
  }
  get invocations() {
    return this.c.invocations;
  }
  get closed(): boolean {
    return this.c.closed;
  }
  async connect(app: string, args: Value[] = []): Promise<Table> {
    const r = await this.c.connect(app, {}, args);
    const info = r.args[1] as Table;
    if (r.name !== '_result') throw Object.assign(new Error(String(info.get('description'))), { info });
    return info;
  }
  async call(name: string, ...args: Value[]): Promise<Value[]> {
    const r = await this.c.call(name, args);
    if (r.name !== '_result') {
      const info = r.args[1] as Table;
      throw Object.assign(new Error(String(info.get('description'))), { info });
    }
    return r.args.slice(1);
  }
  createStream(): Promise<number> {
    return this.c.createStream();
  }
  send(name: string, ...args: Value[]): void {
    this.c.command(name, args, 0);
  }
  command(streamId: number, name: string, ...args: Value[]): void {
    this.c.command(name, args, streamId);
  }
  statuses(streamId: number): Table[] {
    return this.c.statuses.filter((s) => s.streamId === streamId).map((s) => s.info);
  }
  waitStatus(streamId: number, code: string, timeoutMs = 10_000): Promise<Table> {
    return this.c.status(streamId, code, timeoutMs);
  }
  media(streamId: number): ReceivedMedia[] {
    return this.c
      .media(streamId)
      .filter((m) => !isSampleAccess(m.type, m.payload))
      .map((m) => ({ type: m.type, time: m.timestamp, body: m.payload }));
  }
  until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.c.until(predicate, timeoutMs, what).then(() => undefined);
  }
  sendMedia(streamId: number, type: number, time: number, body: Buffer): void {
    if (type === MessageType.Audio) this.c.sendAudio(streamId, time, body);
    else if (type === MessageType.Video) this.c.sendVideo(streamId, time, body);
    else this.c.send(4, type, streamId, time, body);
  }
  sendData(streamId: number, values: Value[], time = 0): void {
    this.c.sendData(streamId, values, time);
  }
  close(): Promise<void> {
    return this.c.close();
  }
}

class RTMFPPeer implements FlashPeer {
  readonly protocol = 'RTMFP';
  readonly c: RtmfpTestClient;
  private readonly received: Array<Media> = [];
  readonly invocations: Array<{ name: string; args: Value[] }> = [];
  closed = false;
  constructor(private readonly port: number) {
    this.c = new RtmfpTestClient({ port });
    this.c.on('closed', () => (this.closed = true));
    this.c.on('media', (m: Media) => this.received.push(m));
    this.c.on('invocation', (name: string, args: Value[]) => this.invocations.push({ name, args }));
  }
  async connect(app: string, args: Value[] = []): Promise<Table> {
    return this.c.connect(`rtmfp://127.0.0.1:${this.port}/${app}`, args);
  }
  call(name: string, ...args: Value[]): Promise<Value[]> {
    return this.c.call(name, ...args);
  }
  createStream(): Promise<number> {
    return this.c.createStream();
  }
  send(name: string, ...args: Value[]): void {
    this.c.send(name, ...args);
  }
  command(streamId: number, name: string, ...args: Value[]): void {
    void this.c.streamCommand(streamId, name, args, null);
  }
  statuses(streamId: number): Table[] {
    return this.c.statuses.filter((s) => s.streamId === streamId).map((s) => s.info);
  }
  async waitStatus(streamId: number, code: string, timeoutMs = 10_000): Promise<Table> {
    let found: Table | undefined;
    await poll(() => (found = this.statuses(streamId).find((i) => i.get('code') === code)) !== undefined, code, timeoutMs);
    return found!;
  }
  media(streamId: number): ReceivedMedia[] {
    return this.received.filter((m) => m.streamId === streamId && !isSampleAccess(m.type, m.body)).map((m) => ({ type: m.type, time: m.time, body: m.body }));
  }
  until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return poll(predicate, what, timeoutMs);
  }
  sendMedia(streamId: number, type: number, time: number, body: Buffer): void {
    this.c.sendMedia(streamId, type, time, body);
  }
  sendData(streamId: number, values: Value[], time = 0): void {
    this.c.sendMedia(streamId, MessageType.DataAMF0, time, encodeAMF0(...values));
  }
  close(): Promise<void> {
    return this.c.close();
  }
}

export function peer(protocol: Protocol, servers: FlashServers): FlashPeer {
  return protocol === 'RTMP' ? new RTMPPeer(servers.rtmpPort) : new RTMFPPeer(servers.rtmfpPort);
}

/** A connected peer with a stream publishing `name` (Publish.Start received). */
export async function publisher(protocol: Protocol, s: FlashServers, name: string, app = 'live'): Promise<{ p: FlashPeer; id: number }> {
  const p = peer(protocol, s);
  await p.connect(app);
  const id = await p.createStream();
  p.command(id, 'publish', name, 'live');
  await p.waitStatus(id, 'NetStream.Publish.Start');
  return { p, id };
}

/** A connected peer with a stream playing `name` (Play.Start received). */
export async function player(protocol: Protocol, s: FlashServers, name: string, app = 'live'): Promise<{ p: FlashPeer; id: number }> {
  const p = peer(protocol, s);
  await p.connect(app);
  const id = await p.createStream();
  p.command(id, 'play', name);
  await p.waitStatus(id, 'NetStream.Play.Start');
  return { p, id };
}

export const AVC_CONFIG = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]);
export const AAC_CONFIG = Buffer.from([0xaf, 0, 0x12, 0x10]);
export const key = (n: number): Buffer => Buffer.from([0x17, 1, 0, 0, 0, n]);
export const inter = (n: number): Buffer => Buffer.from([0x27, 1, 0, 0, 0, n]);
export const aac = (n: number): Buffer => Buffer.from([0xaf, 1, n]);
