// A TypeScript app (no build step: the server compiles main.ts when it loads, and again when you
// edit it). A chat room: ws://host/chat, then send ["join","Ann"], ["say","hi"], ["history"].
// Events this app does not export (onStart, onDisconnection...) go to the root app (www/main.lua).
import { data, type Client } from 'monats';

const members = new Map<Client, string>();

function broadcast(...message: unknown[]): void {
  for (const client of members.keys()) client.writer.writeInvocation('onChat', ...message);
}

export function onConnection(client: Client): void {
  client.join = (name: string) => {
    if (typeof name !== 'string' || name === '') throw new Error('join takes a name');
    members.set(client, name);
    broadcast(`${name} joined`);
    return [...members.values()];
  };
  client.say = (text: string) => {
    const name = members.get(client);
    if (name === undefined) throw new Error('join first');
    // `data` persists across restarts; values read back as text
    data.messages = Number(data.messages ?? 0) + 1;
    broadcast(`${name}: ${text}`);
  };
  // an async method answers when its Promise settles
  client.history = async () => ({ messages: Number(data.messages ?? 0), members: members.size });
}

export function onDisconnection(client: Client): void {
  const name = members.get(client);
  members.delete(client);
  if (name !== undefined) broadcast(`${name} left`);
}
