/**
 * Live publications over HTTP: `GET …/name.flv` / `name.ts` that is no file (after onRead) plays
 * publication `name` progressively until it ends or the client leaves (`Connection: close`).
 */
import { StreamRefused } from '../../../core/errors';
import type { HTTPExchange } from '../exchange';
import { FLVSink, TSSink } from '../live';
import { extensionOf } from '../mime';
import type { HeaderList } from '../response';
import type { HTTPHandler } from '../router';
import { MISSING_FILE, type MissingFile } from './files';

export const liveHandler: HTTPHandler = {
  name: 'live',
  handle(ex: HTTPExchange): boolean {
    const missing = ex.notes.get(MISSING_FILE) as MissingFile | undefined;
    if (!missing) return false;
    const ext = extensionOf(missing.file);
    if ((ext !== 'flv' && ext !== 'ts') || missing.file.includes('/')) return false;
    const name = missing.file.slice(0, -(ext.length + 1));
    const isFLV = ext === 'flv';
    const headers: HeaderList = [
      ['Content-Type', isFLV ? 'video/x-flv' : 'video/mp2t'],
      ['Cache-Control', 'no-cache, no-store'],
    ];
    if (ex.method === 'HEAD') {
      ex.sendRaw(200, headers, null, true, ex.keepAlive);
      return true;
    }
    const context = ex.context;
    const conn = ex.connection;
    const sink = isFLV ? new FLVSink(conn) : new TSSink(conn);
    let listener: ReturnType<typeof context.publications.subscribe> | null = null;
    const stop = () => {
      const l = listener;
      listener = null;
      if (!l) return;
      try {
        context.publications.unsubscribe(l);
      } catch (e) {
        context.logger.error('HTTP', `unsubscribe: ${(e as Error).message}`);
      }
    };
    sink.onEnd = (reason) => {
      stop();
      ex.http.close(reason);
    };
    // progressive: no length, the end of the connection ends the body
    ex.startStream(200, headers, stop);
    ex.http.setIdleTimeout(0);
    try {
      listener = context.publications.subscribe(missing.client, name, sink, missing.params);
    } catch (e) {
      const message = e instanceof StreamRefused ? e.message : (e as Error).message;
      context.logger.info('HTTP', `${ex.http.address} play ${name} refused: ${message}`);
      ex.http.close(message);
      return true;
    }
    return true;
  },
};
