/**
 * Questions only one protocol asks the application layer, kept out of `AppHost` so that a protocol
 * with its own script events does not widen the interface every host implements. Each is a small
 * interface named by a `HookKey`; a protocol looks its hook up with `appHook(host, KEY)` and falls
 * back to the script-less behaviour when the host does not answer for that key.
 */
import type { Table } from '../serialization/value';
import type { AppHost, ReadDecision } from './app-host';
import type { Client } from './client';
import type { Group } from './groups';
import type { Publication } from './publication';
import type { Redirection } from './servers';

/** Names one hook interface; compared by identity. */
export class HookKey<T extends object> {
  /** never read: it only carries T for the type checker */
  declare readonly type: T;
  constructor(readonly name: string) {}
}

/** What a host answering hooks implements besides AppHost. */
export interface HookProvider {
  /** the object implementing the hook named by `key`, or undefined when the host has none */
  hook<T extends object>(key: HookKey<T>): T | undefined;
}

/** The hook `key` of `host`, if it answers for it. */
export function appHook<T extends object>(host: AppHost, key: HookKey<T>): T | undefined {
  const provider = host as Partial<HookProvider>;
  return typeof provider.hook === 'function' ? provider.hook(key) : undefined;
}

/**
 * A client reading a file goes through `client:onRead(file, params)`: an HTTP GET, and a Flash
 * player playing a media file by name (VOD over RTMP/RTMFP).
 */
export interface HTTPReadHook {
  /** the decision for reading `file`; throws CallFailed to refuse */
  onRead(client: Client, file: string, params: Table): ReadDecision;
}
export const HTTP_READ = new HookKey<HTTPReadHook>('http.onRead');

/**
 * RTMFP: handshake redirection and rendezvous of peers this server does not know. What they return
 * names servers: "host:port" text ("myself"/"again" = this server), linked servers (PeerServer)
 * and broadcasters (ServerGroup); the protocol turns them into addresses with
 * `redirectionAddresses` (servers by the address their hello announced for it).
 */
export interface RTMFPRendezvousHooks {
  /** where to redirect a handshake (empty = handle it here) */
  onHandshake(address: string, path: string, properties: Table, attempts: number): readonly Redirection[];
  /** other servers for an unknown peer id */
  onRendezVousUnknown(protocol: string, peerId: string): readonly Redirection[];
}
export const RTMFP_RENDEZVOUS = new HookKey<RTMFPRendezvousHooks>('rtmfp.rendezvous');

/** Groups (RTMFP NetGroup, virtual members): `client:onJoinGroup(group)` / `client:onUnjoinGroup(group)`. */
export interface GroupHooks {
  /** the client became a member (before it is introduced to others: the app may write first) */
  onJoinGroup(client: Client, group: Group): void;
  /** the client left the group (its flow closed, its session ended, or it was replaced) */
  onUnjoinGroup(client: Client, group: Group): void;
}
export const GROUP_EVENTS = new HookKey<GroupHooks>('groups.events');

/**
 * Which events scripts would answer, for a process that serves clients on behalf of another
 * process's scripts (`threads`): an event nobody handles takes its default without a round trip.
 */
export interface ScriptHandlerHooks {
  /** false when no function `name` stored on this client's script object would run (`client:onRead`...) */
  clientHandles(client: Client, name: string): boolean;
  /** false when no script handles this publication's media (`publication:onAudio/onVideo/onData/onFlush`) */
  publicationHandlesMedia(publication: Publication): boolean;
}
export const SCRIPT_HANDLERS = new HookKey<ScriptHandlerHooks>('scripts.handlers');

/**
 * Recording a publication: MonaServer2's `client:onWrite(file, params)` asked before a client's
 * publication is recorded, and the events `publication:onRecord(file)` /
 * `publication:onRecordStop(file, info)`.
 */
export interface RecordingHooks {
  /**
   * The file to write for `client` (relative to its app folder): `file` itself, another name
   * (redirection), or null when the script says no; throws CallFailed to refuse with a message.
   */
  onWrite(client: Client, file: string, params: Table): string | null;
  /** the recording is open and takes the publication's frames */
  onRecord(publication: Publication, file: string): void;
  /** the recording ended (`info`: duration, bytes, frames, droppedFrames, error) */
  onRecordStop(publication: Publication, file: string, info: Table): void;
}
export const RECORDING = new HookKey<RecordingHooks>('recording');
