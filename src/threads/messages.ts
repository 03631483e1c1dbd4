/**
 * What the script channel carries (`threads`), shared by both ends.
 *
 * Worker → primary, `[op, ...args]`; an op written "?op" blocks the worker until the primary
 * answers `[status, result, effects]` (the ops marked "answer" always do):
 *   connect      clientId, protocol, address, path, query, properties, ping, args      answer: table|null
 *   disconnect   clientId
 *   address      clientId, ping, newAddress, oldAddress                                answer
 *   call         clientId, ping, method, args                                          answer: values, or a token (Pending)
 *   message      clientId, ping, args                                                  answer: values
 *   publish      clientId, ping, name, type                                            answer
 *   unpublish    clientId, ping, name                                                  answer when the client has onUnpublish
 *   subscribe    clientId, ping, listenerId, name, parameters                          answer when the client has onSubscribe
 *   unsubscribe  clientId, ping, listenerId                                            answer when the client has onUnsubscribe
 *   read         clientId, ping, file, parameters                                      answer: [file|null, template|null]
 *   handshake    address, path, properties, attempts                                   answer: addresses
 *   rendezvous   protocol, peerId                                                      answer: addresses
 *   write        clientId, ping, file, parameters                                      answer: file|null (client:onWrite)
 *   record       name, file                                                            (publication:onRecord)
 *   recordStop   name, file, info                                                      (publication:onRecordStop)
 *   join         clientId, ping, groupId                                               answer when the client has onJoinGroup
 *   unjoin       clientId, ping, groupId                                               answer when the client has onUnjoinGroup
 *   writerClosed writerKey
 *   metadata     name, properties
 * Effects (primary → worker, in answers, or alone over the worker link when no call of that worker
 * is running): what scripts did to the worker's clients, writers, listeners and publications, in
 * the order they did it. Each is `[op, target, ...args]`:
 *   invoke writerKey name args · message writerKey args · raw writerKey bytes ·
 *   status writerKey code description · flush writerKey full · wclose writerKey ·
 *   reliable writerKey on · newWriter parentKey newKey · close clientId reason ·
 *   cookie clientId name value options · hints clientId flags · receive listenerId audio video ·
 *   pubClose name code description · settle token status result
 * An RPC whose method is asynchronous (a JavaScript app's async function) answers Pending with a
 * token at once, so that the worker goes on; `settle` brings its outcome when it is known.
 * A writer's key is its client's id for the main writer, `<client id>.<n>` for a newWriter().
 */

/** How an answer says how the call went. */
export const enum Status {
  Ok = 0,
  /** onConnection refused (ConnectionRejected) */
  Rejected = 1,
  /** no such application (InvalidApp) */
  InvalidApp = 2,
  /** a script error in an RPC (CallFailed) */
  CallFailed = 3,
  /** no such RPC method (MethodNotFound) */
  MethodNotFound = 4,
  /** a publish or play refused: result = [code, message] (StreamRefused) */
  StreamRefused = 5,
  /** an asynchronous RPC: result = its token, the outcome comes later in a `settle` effect */
  Pending = 6,
}

/** The client events a worker skips when no script function of the client answers them. */
export const HINTED = ['onRead', 'onMessage', 'onPublish', 'onUnpublish', 'onSubscribe', 'onUnsubscribe', 'onAddressChanged', 'onWrite', 'onJoinGroup', 'onUnjoinGroup'] as const;
export type Hinted = (typeof HINTED)[number];

/** every hinted event handled: what a worker assumes before it knows */
export const ALL_HINTS = (1 << HINTED.length) - 1;

export function hintBit(name: Hinted): number {
  return 1 << HINTED.indexOf(name);
}

/** The raw handler of the worker link carrying effects outside an answer. */
export const EFFECTS_HANDLER = 'monats.threads.effects';
/** The hello pair that gives a process's place: "0" for the primary, "1".."N" for workers. */
export const WORKER_HELLO_KEY = 'monats.worker';
