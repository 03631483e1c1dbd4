/**
 * NetConnection commands (SPEC S5): connect with its command object, URL query and extra
 * arguments; createStream/deleteStream; the NetStream commands routed to their stream; the
 * commands OBS and ffmpeg send that need only a quiet answer; everything else is an RPC of the
 * script's client object (`_result` with its values, `_error` NetConnection.Call.Failed).
 */
import { connectionAppPath } from '../../core/app-host';
import { CallFailed, ConnectionRejected, InvalidApp } from '../../core/errors';
import { Level } from '../../logs/levels';
import { decodeQuery } from '../../serialization/query';
import { Table, type Value } from '../../serialization/value';
import type { RTMPMessage } from './chunk-reader';
import { type Command, decodeCommand, statusInfo, text } from './commands';
import { CSID } from './constants';
import type { RTMPSession } from './session';

/** Commands answered with an empty `_result` and nothing else (never logged as errors). */
const QUIET = new Set(['releaseStream', 'FCPublish', 'FCUnpublish', 'FCSubscribe', 'FCUnsubscribe', 'getStreamLength', 'setPeerInfo', '@setDataFrame']);

export function handleCommand(session: RTMPSession, m: RTMPMessage): void {
  const cmd = decodeCommand(m.type, m.payload);
  const logger = session.context.logger;
  if (logger.enabled(Level.TRACE)) logger.trace('RTMP', `${session.name}: ${cmd.name} (transaction ${cmd.transaction}, stream ${m.streamId})`);
  if (!session.connected) {
    if (cmd.name !== 'connect') throw new Error(`'${cmd.name}' before connect`);
    connect(session, cmd);
    return;
  }
  const stream = m.streamId ? session.streams.get(m.streamId) : undefined;
  const arg0 = cmd.args[0];
  switch (cmd.name) {
    case 'connect':
      throw new Error('second connect');
    case 'createStream':
      result(session, cmd, [session.createStream()]);
      return;
    case 'deleteStream':
      if (typeof arg0 === 'number') session.deleteStream(arg0);
      return;
    case 'close':
      session.close('NetConnection.close');
      return;
    case 'closeStream':
      stream?.stop();
      return;
    case 'publish':
      if (stream) stream.publish(text(arg0));
      return;
    case 'play':
      if (stream) stream.play(text(arg0));
      return;
    case 'pause':
      stream?.pause(arg0 === true, typeof cmd.args[1] === 'number' ? cmd.args[1] : 0);
      return;
    case 'seek':
      stream?.seek(typeof arg0 === 'number' ? arg0 : 0);
      return;
    case 'receiveAudio':
      stream?.receiveAudio(arg0 !== false);
      return;
    case 'receiveVideo':
      stream?.receiveVideo(arg0 !== false);
      return;
  }
  if (QUIET.has(cmd.name)) {
    // FCUnpublish needs no action: closeStream/deleteStream that follow it unpublish
    if (cmd.transaction) result(session, cmd, cmd.name === 'getStreamLength' ? [0] : [null]);
    return;
  }
  call(session, cmd);
}

function result(session: RTMPSession, cmd: Command, values: Value[]): void {
  session.sendCommand(CSID.command, 0, '_result', cmd.transaction, null, values);
}

/** `client:method(...)` → `_result(values)` or `_error(Call.Failed)`. */
function call(session: RTMPSession, cmd: Command): void {
  const { host } = session.context;
  try {
    const values = session.serving(cmd.transaction, () => host.call(session, cmd.name, cmd.args));
    if (cmd.transaction) result(session, cmd, values);
  } catch (e) {
    if (!(e instanceof CallFailed)) throw e;
    const info = statusInfo('error', 'NetConnection.Call.Failed', e.message);
    session.sendCommand(CSID.command, 0, '_error', cmd.transaction, null, [info]);
  }
}

/** Splits tcUrl/app into the app path and the query (SPEC S2: the last segment may be a stream). */
function appPathOf(session: RTMPSession, tcUrl: string, app: string): { path: string; query: string } {
  let query = '';
  let pathPart = app;
  const qa = app.indexOf('?');
  if (qa >= 0) {
    query = app.slice(qa + 1);
    pathPart = app.slice(0, qa);
  }
  if (tcUrl) {
    const qt = tcUrl.indexOf('?');
    if (qt >= 0 && !query) query = tcUrl.slice(qt + 1);
    if (!pathPart) {
      const m = /^[a-z0-9+.-]+:\/\/[^/]*\/?([^?]*)/i.exec(tcUrl);
      if (m) pathPart = m[1];
    }
  }
  const host = session.context.host;
  return { path: connectionAppPath(pathPart, (app) => host.exists(app)), query };
}

function connect(session: RTMPSession, cmd: Command): void {
  const obj = cmd.object instanceof Table ? cmd.object : new Table();
  const tcUrl = text(obj.field('tcUrl') ?? undefined);
  const app = text(obj.field('app') ?? undefined);
  const { path, query } = appPathOf(session, tcUrl, app);
  session.path = path;
  session.query = query;
  for (const [k, v] of obj.fields) session.properties.set(k, v);
  if (query) {
    for (const v of decodeQuery(query)) if (v instanceof Table) for (const [k, x] of v.fields) session.properties.set(k, x);
  }
  session.amf3 = obj.field('objectEncoding') === 3;
  const objectEncoding = session.amf3 ? 3 : 0;

  session.sendProtocolSettings();
  let returned: Table | null;
  try {
    returned = session.context.connect(session, cmd.args);
  } catch (e) {
    const code = e instanceof InvalidApp ? 'NetConnection.Connect.InvalidApp' : 'NetConnection.Connect.Rejected';
    const message = e instanceof ConnectionRejected || e instanceof InvalidApp ? e.message : 'client rejected';
    if (!(e instanceof ConnectionRejected || e instanceof InvalidApp)) session.log('error', `onConnection: ${(e as Error).message}`);
    const info = statusInfo('error', code, message);
    info.set('objectEncoding', objectEncoding);
    session.sendCommand(CSID.command, 0, '_error', cmd.transaction, null, [info]);
    session.close(`${code}: ${message}`);
    return;
  }
  let timeoutMs: number | null = null;
  const extra = new Table();
  if (returned) {
    for (const [k, v] of returned.fields) {
      if (k === 'timeout' && typeof v === 'number') timeoutMs = v * 1000;
      else extra.set(k, v);
    }
  }
  const info = statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded', null);
  info.set('objectEncoding', objectEncoding);
  for (const [k, v] of extra.fields) if (!info.fields.has(k)) info.set(k, v);
  const props = Table.of({ fmsVer: 'FMS/3,5,1,525', capabilities: 31, mode: 1 });
  session.sendCommand(CSID.command, 0, '_result', cmd.transaction, props, [info]);
  session.started(timeoutMs);
}
