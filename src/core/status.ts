/**
 * Status codes as Flash clients know them ("NetStream.Play.Start", "NetConnection.Call.Failed"),
 * protocol-free so that every writer of `writer:writeStatusResponse(code, description)` (Flash
 * protocols, WebSocket...) names and grades a code the same way.
 */

export type StatusLevel = 'status' | 'error' | 'warning';

/** First segments that make a code complete: it names its Flash object already. */
const OBJECTS = new Set(['NetConnection', 'NetStream', 'NetGroup', 'SharedObject']);

/**
 * The code a writer sends for what a script wrote: scripts write the code without its object
 * (`Call.Failed` on a NetConnection's writer becomes `NetConnection.Call.Failed`, `Play.Custom` on a
 * NetStream's writer `NetStream.Play.Custom`), as MonaServer documents it. An empty code is the
 * object alone. A code that already starts with a Flash object name is kept as written, so a
 * script passing a full code does not get it twice. `object` "" leaves every code unchanged.
 */
export function prefixedStatusCode(object: string, code: string): string {
  if (!object) return code;
  if (code === '') return object;
  const dot = code.indexOf('.');
  if (dot > 0 && OBJECTS.has(code.slice(0, dot))) return code;
  return `${object}.${code}`;
}

/** Last segments of the codes Flash reports as errors. */
const ERRORS = new Set([
  'Failed', 'Rejected', 'BadName', 'BadVersion', 'Prohibited', 'AppShutdown', 'InvalidApp', 'InvalidTime',
  'StreamNotFound', 'NotFound', 'NoAccess', 'AlreadyExists', 'FileStructureInvalid', 'NoSupportedTrackFound',
  'BadPersistence', 'UriMismatch', 'Error',
]);
const WARNINGS = new Set(['InsufficientBW']);

/**
 * The `level` of a status info object, one rule for every code the server or a script sends: the
 * last segment decides (`…Failed`, `…Rejected`, `…BadName`, `…NotFound`, `…Error`, `Publish.Error`… →
 * "error"; `Play.InsufficientBW` → "warning"; anything else, `Play.Start`, `App.Welcome` → "status").
 */
export function statusLevel(code: string): StatusLevel {
  const last = code.slice(code.lastIndexOf('.') + 1);
  if (ERRORS.has(last) || last.endsWith('Error') || last.endsWith('Failed')) return 'error';
  if (WARNINGS.has(last)) return 'warning';
  return 'status';
}
