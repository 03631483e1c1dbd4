import { randomBytes } from 'node:crypto';
import { Table, type Value } from '../serialization/value';
import type { Writer } from './writer';

/**
 * Byte counts of a client's connection: a `net.Socket` is one as it is (TCP protocols pass their
 * socket); RTMFP passes its session's counters; HTTP, whose connection may carry several clients in
 * turn, passes a view counting from where the previous client of the connection left off.
 */
export interface TrafficCounters {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/**
 * One connected client of any protocol (the scripts' `client`). Protocols subclass it; scripting reads
 * and extends it. Nothing here knows a protocol.
 */
export abstract class Client {
  /** 32 bytes: RTMFP peer id, random for other protocols */
  readonly rawId: Buffer;
  readonly id: string;
  /** "RTMFP", "RTMP", "RTMPE", "RTMPS", "HTTP", "HTTPS", "WebSocket", "WSS", "RTSP" */
  abstract readonly protocol: string;
  /** "ip:port" of the peer; protocols update it on mobility (RTMFP) */
  address: string;
  /** app path, "" for root, "/live" ... (set before onConnection) */
  path = '';
  /** raw query string of the connection URL, without '?' */
  query = '';
  /** connection properties: URL query, connect command object, cookies (HTTP)... scripts see them */
  readonly properties = new Table();
  /** round trip time in ms, as measured by the protocol */
  ping = 0;
  lastReceptionTime = Date.now();
  /** true once onConnection accepted it (protocols keep sessions that are not yet connected off it) */
  connected = false;
  /** Date.now() at creation: durations in the access log, `since` in the admin API */
  readonly since = Date.now();
  /**
   * true for the image of a client that another process of this server serves (`threads`): scripts
   * see it like any client, its access lines are that process's to write
   */
  mirrored = false;
  private readonly traffic: TrafficCounters | null;

  constructor(address: string, rawId?: Buffer, traffic?: TrafficCounters) {
    this.address = address;
    this.rawId = rawId ?? randomBytes(32);
    this.id = this.rawId.toString('hex');
    this.traffic = traffic ?? null;
  }

  /** bytes received from this client (0 when it has no connection of its own, e.g. in tests) */
  get bytesIn(): number {
    return this.traffic ? this.traffic.bytesRead : 0;
  }

  /** bytes sent (or queued to be sent) to this client */
  get bytesOut(): number {
    return this.traffic ? this.traffic.bytesWritten : 0;
  }

  /** The main writer: where RPC results and invocations to this client go. */
  abstract get writer(): Writer;

  /** Ends the session (reason is logged and, where the protocol can, told to the peer). */
  abstract close(reason?: string): void;

  property(name: string): Value {
    return this.properties.get(name);
  }

  /**
   * `client.properties(key, value, {expires, path, domain, secure, httponly})`: HTTP sets
   * a cookie (and the property); other protocols have no cookies and return false.
   */
  setCookie(_name: string, _value: Value, _options: Table | null): boolean {
    return false;
  }
}

/** The registry of connected clients (`mona.clients`): by id (hex) or rawId, iterable. */
export class Clients implements Iterable<Client> {
  private byId = new Map<string, Client>();

  add(client: Client): void {
    this.byId.set(client.id, client);
  }

  remove(client: Client): boolean {
    return this.byId.get(client.id) === client && this.byId.delete(client.id);
  }

  get(id: string | Buffer): Client | undefined {
    return this.byId.get(typeof id === 'string' ? id.toLowerCase() : id.toString('hex'));
  }

  get size(): number {
    return this.byId.size;
  }

  [Symbol.iterator](): Iterator<Client> {
    return this.byId.values();
  }
}
