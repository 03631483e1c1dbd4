/**
 * The small request/response model the admin handlers are written against: they are tested by
 * calling them directly, and router.ts carries them on our own HTTP code.
 */
export interface AdminRequest {
  /** upper case: GET, POST… */
  method: string;
  /** the path as sent, still percent-encoded (a publication name may hold "/"), without the query */
  path: string;
  query: URLSearchParams;
  /** header names in lower case */
  headers: Record<string, string>;
  /** the whole body (the listener bounds it) */
  body: Buffer;
}

export interface AdminResponse {
  status: number;
  headers: Record<string, string>;
  /** the whole body (answers are small: JSON, metrics, the dashboard page and its player) */
  body?: string | Buffer;
}

export type AdminHandler = (request: AdminRequest) => AdminResponse | Promise<AdminResponse>;

/** Largest request body a listener accepts for the admin API (actions carry none or tiny JSON). */
export const MAX_ADMIN_BODY = 64 * 1024;

export function json(status: number, value: unknown, headers: Record<string, string> = {}): AdminResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(value, null, 2) + '\n',
  };
}

export function text(status: number, body: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): AdminResponse {
  return { status, headers: { 'Content-Type': contentType, 'Cache-Control': 'no-store', ...headers }, body };
}

/** A JSON error: `{ "error": message }` */
export function failure(status: number, message: string, headers: Record<string, string> = {}): AdminResponse {
  return json(status, { error: message }, headers);
}
