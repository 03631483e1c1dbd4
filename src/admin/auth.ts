/**
 * Who may use the admin listener.
 *
 * - `[admin] password` set: every request must carry it, as HTTP Basic (any user name: browsers
 *   ask for both, the name is ignored) or as a bearer token (`Authorization: Bearer <password>`,
 *   for scripts and Prometheus' `authorization` setting). Compared in constant time.
 * - No password: the listener is only as private as its bind address (127.0.0.1 by default). A web
 *   page could still make the admin's browser call it, so requests whose Host names another site
 *   (DNS rebinding: evil.example resolving to 127.0.0.1) are refused; IP literals and localhost pass.
 * - Always: actions (POST) from a page of another origin are refused, so a page cannot kick or
 *   close through the admin's browser even with remembered Basic credentials.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as net from 'node:net';
import { failure, type AdminRequest, type AdminResponse } from './http';

const REALM = 'monats admin';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Equal strings without telling how much of them matched (both hashed to equal lengths first). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The password an Authorization header carries (Basic's password part or a bearer token), or null. */
export function presentedPassword(authorization: string | undefined): string | null {
  if (!authorization) return null;
  // the rest of the line: a password with spaces still works as a bearer token
  const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(authorization);
  if (!m) return null;
  const scheme = m[1].toLowerCase();
  if (scheme === 'bearer') return m[2];
  if (scheme !== 'basic') return null;
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** The host name of a Host header ("[::1]:9997" → "::1", "Example.com:80" → "example.com"). */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.trim().toLowerCase();
  } catch {
    return false;
  }
}

/** null when the request may go on, else the answer that refuses it. */
export function checkAccess(request: AdminRequest, password: string): AdminResponse | null {
  const host = request.headers.host;
  if (password) {
    const given = presentedPassword(request.headers.authorization);
    if (given === null || !same(given, password))
      return failure(401, 'authentication required', { 'WWW-Authenticate': `Basic realm="${REALM}", charset="UTF-8"` });
  } else if (host !== undefined) {
    const name = hostName(host);
    if (name !== 'localhost' && !name.endsWith('.localhost') && net.isIP(name) === 0)
      return failure(421, `no password is set, so only requests to an IP address or localhost are served (Host: ${host})`);
  }
  const origin = request.headers.origin;
  if (request.method !== 'GET' && request.method !== 'HEAD' && origin !== undefined && !sameOrigin(origin, host))
    return failure(403, `actions from another origin (${origin}) are refused`);
  return null;
}
