/**
 * WebSocket RPC load for bench/http.ts: `connections` ws clients, each in a closed loop sending
 * `["add", 1, 2]` and waiting for the reply, for `seconds`. Prints the number of replies per second.
 *   node dist/bench/http-ws-load.js <url> <connections> <seconds>
 */
import WebSocket from 'ws';

async function main(): Promise<void> {
  const [url, c, s] = process.argv.slice(2);
  const connections = Number(c);
  const seconds = Number(s);
  let replies = 0;
  let errors = 0;
  let running = true;
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const started = Date.now();
  for (const ws of sockets) {
    ws.on('message', (d) => {
      if (d.toString() === '[3]') replies++;
      else errors++;
      if (running) ws.send('["add",1,2]');
    });
    ws.send('["add",1,2]');
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (Date.now() - started) / 1000;
  for (const ws of sockets) ws.terminate();
  process.stdout.write(JSON.stringify({ rps: replies / elapsed, errors }) + '\n');
}

void main();
