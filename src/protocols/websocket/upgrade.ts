/** The HTTP → WebSocket upgrade (RFC 6455 4.2) on the HTTP port. */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ServerContext } from '../../core/context';
import { WSSession } from './session';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface UpgradeRequest {
  method: string;
  version: string;
  headers: Map<string, string>;
}

export function isWebSocketUpgrade(req: UpgradeRequest): boolean {
  const upgrade = req.headers.get('upgrade');
  return req.method === 'GET' && upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

function refuse(socket: Socket, status: number, text: string, extra = ''): void {
  const body = `${status} ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`, 'latin1');
}

/**
 * Validates the handshake, connects the client to `app` (onConnection may refuse: 403), answers
 * 101 and hands the socket to a WSSession. `rest` = bytes received after the request (first frames).
 */
export function acceptWebSocket(context: ServerContext, socket: Socket, req: UpgradeRequest, app: string, query: string, rest: Buffer, flvStream: string | null = null): void {
  const key = req.headers.get('sec-websocket-key');
  const version = req.headers.get('sec-websocket-version');
  const connection = req.headers.get('connection')?.toLowerCase() ?? '';
  if (req.version !== '1.1' || !key || Buffer.from(key, 'base64').length !== 16 || !connection.split(',').some((t) => t.trim() === 'upgrade')) {
    refuse(socket, 400, 'Bad Request');
    return;
  }
  if (version !== '13') {
    refuse(socket, 426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n');
    return;
  }
  const session = new WSSession(context, socket, query);
  if (!session.connect(app, req.headers, flvStream)) return;
  const protocols = req.headers.get('sec-websocket-protocol');
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  // we speak no sub-protocol of our own: echo the first one offered so strict clients accept us
  if (protocols) head += `Sec-WebSocket-Protocol: ${protocols.split(',')[0].trim()}\r\n`;
  socket.write(head + '\r\n', 'latin1');
  session.start(rest);
}
