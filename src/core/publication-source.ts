/**
 * What a publish request carries besides its name, and how the server reaches whoever feeds a
 * publication (a Flash NetStream, later a WebSocket or RTSP publisher) to end it from its side.
 */

/** How a publisher asked to publish: Flash's `publish(name, type)` ("live" when not said). */
export type PublishType = 'live' | 'record' | 'append';

/** Flash's type argument: "record", "append" ("appendWithGap" appends too), anything else is live. */
export function publishTypeOf(v: unknown): PublishType {
  if (v === 'record') return 'record';
  if (v === 'append' || v === 'appendWithGap') return 'append';
  return 'live';
}

/** The publisher's end of a publication, implemented by the protocol that receives its media. */
export interface PublicationSource {
  /**
   * The server ends this publishing (a script's `publication:close(code, description)`): tell the
   * publisher why — `code`/`description` as the script gave them, null for the protocol's own — and
   * stop feeding, which unpublishes.
   */
  closePublication(code: string | null, description: string | null): void;
  /** who feeds it when no client does (a relay: "relay from server 10.0.0.2:1936"), for logs */
  readonly endpoint?: string;
  /**
   * Something the server tells the publisher about its publication besides closing it: a
   * recording started, stopped or failed (`NetStream.Record.Start`…). Optional: a publisher without
   * a status channel is not told.
   */
  notify?(code: string, description: string): void;
  /**
   * true for a copy of a publication another process of this same server runs (`threads`): what is
   * done once per publication (recording it) is done by that process, never by its copies.
   */
  readonly mirror?: boolean;
}

export interface PublishOptions {
  type?: PublishType;
  source?: PublicationSource | null;
  /** with type record/append: the file the request named ("cam.mp4"), relative to the app folder; none = `<name>.flv` */
  record?: string | null;
  /** the app folder the publication belongs to when no client publishes it (a script's app); default the client's path */
  app?: string;
}
