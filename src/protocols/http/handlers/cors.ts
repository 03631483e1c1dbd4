/** Methods this router serves (others: 405) and the CORS preflight (OPTIONS). */
import type { HTTPExchange } from '../exchange';
import type { HeaderList } from '../response';
import { errorPage } from '../response';
import type { HTTPHandler } from '../router';

const ALLOWED = 'GET, HEAD, POST, OPTIONS';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'OPTIONS']);

/** 405 for a method no handler of this router serves. */
export const methodsHandler: HTTPHandler = {
  name: 'methods',
  handle(ex: HTTPExchange): boolean {
    if (METHODS.has(ex.method)) return false;
    ex.send(405, [['Allow', ALLOWED], ['Content-Type', 'text/html; charset=utf-8']], errorPage(405, `${ex.method} is not supported`));
    return true;
  },
};

/**
 * CORS preflight (and plain OPTIONS): everything this server does is allowed from any origin,
 * with credentials (the CORS headers of every answer say the same, see HTTPExchange.common).
 */
export const optionsHandler: HTTPHandler = {
  name: 'options',
  handle(ex: HTTPExchange): boolean {
    if (ex.method !== 'OPTIONS') return false;
    const headers: HeaderList = [
      ['Allow', ALLOWED],
      ['Access-Control-Allow-Methods', ALLOWED],
      ['Access-Control-Max-Age', '86400'],
    ];
    const asked = ex.header('access-control-request-headers');
    if (asked) headers.push(['Access-Control-Allow-Headers', asked]);
    ex.send(200, headers, null);
    return true;
  },
};
