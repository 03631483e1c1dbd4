// A JavaScript app under the Lua root: http://host/api/time, ws://host/api then ["time"].
// app.super is the parent app (www/main.lua here): its onConnection still runs, this app adds to it.
export function onConnection(client, ...args) {
  const result = app.super.onConnection(client, ...args);
  client.time = () => new Date().toISOString();
  // Node's modules are there too: require('node:os'), or packages from www/node_modules
  client.uptime = () => Math.round(require('node:os').uptime());
  return result;
}
