/** The HTTP → WebSocket upgrade (RFC 6455 4.2) on the HTTP port. */
import { createHash } from 'node:crypto';
import type { ServerContext } from '../../core/context';
import type { Connection, ConnectionHandler } from '../../transport/connection';
import { WSSession } from './session';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface UpgradeRequest {
  method: string;
  version: string;
  headers: Map<string, string>;
  /** lower-cased header name → as written */
  names?: Map<string, string>;
}

/** The HTTP connection being upgraded, as the upgrade needs it. */
export interface UpgradingConnection {
  readonly connection: Connection;
  /** the HTTP app client of the connection leaves (onDisconnection) */
  dropClient(): void;
  /** gives the connection to `next`; returns the bytes received after the request */
  handOver(next: ConnectionHandler): Buffer;
}

export function isWebSocketUpgrade(req: UpgradeRequest): boolean {
  const upgrade = req.headers.get('upgrade');
  return req.method === 'GET' && upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

function refuse(conn: Connection, status: number, text: string, extra = ''): void {
  const body = `${status} ${text}\n`;
  conn.write(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`, 'latin1');
  conn.close(`upgrade refused: ${status}`);
}

/**
 * Validates the handshake, connects the client to `app` (onConnection may refuse: 403), answers
 * 101 and hands the connection to a WSSession.
 */
export function acceptWebSocket(context: ServerContext, http: UpgradingConnection, req: UpgradeRequest, app: string, query: string, flvStream: string | null = null): void {
  const conn = http.connection;
  http.dropClient();
  const key = req.headers.get('sec-websocket-key');
  const version = req.headers.get('sec-websocket-version');
  const connection = req.headers.get('connection')?.toLowerCase() ?? '';
  if (req.version !== '1.1' || !key || Buffer.from(key, 'base64').length !== 16 || !connection.split(',').some((t) => t.trim() === 'upgrade')) {
    refuse(conn, 400, 'Bad Request');
    return;
  }
  if (version !== '13') {
    refuse(conn, 426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n');
    return;
  }
  const session = new WSSession(context, conn, query);
  if (!session.connect(app, req.headers, flvStream, req.names)) return;
  const rest = http.handOver(session);
  const protocols = req.headers.get('sec-websocket-protocol');
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  // we speak no sub-protocol of our own: echo the first one offered so strict clients accept us
  if (protocols) head += `Sec-WebSocket-Protocol: ${protocols.split(',')[0].trim()}\r\n`;
  conn.write(head + '\r\n', 'latin1');
  conn.flush();
  session.start(rest);
}
