/**
 * A Lua TCP echo server (mona:createTCPServer, onData sending back what it gets) against the same
 * echo written in plain Node, side by side: 20 clients in the benchmark's process each keep 256 KB
 * in flight for the measured seconds; figures are the echoed MB/s, the server's CPU (ms per MB)
 * and its RSS at the end. Each server runs in its own child process, alternating over rounds.
 *
 *   npx tsc -p . && node dist/bench/script-sockets.js [--seconds=5] [--rounds=3]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const CLIENTS = 20;
const CHUNK = 64 * 1024;
const IN_FLIGHT = 4 * CHUNK;

const ECHO_LUA = `
server = mona:createTCPServer()
function server:onConnection(client)
  function client:onData(data) self:send(data) end
end
assert(server:start("127.0.0.1", 0))
port = server.address.port
`;

/** Child: runs one server, prints its port, then on "report" its CPU and RSS. */
async function child(kind: string): Promise<void> {
  let port: number;
  if (kind === 'node') {
    const server = net.createServer((s) => s.on('error', () => {}).on('data', (d) => s.write(d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  } else {
    const dist = path.join(__dirname, '..', 'src');
    const { ServerContext } = require(path.join(dist, 'core/context'));
    const { FolderHost } = require(path.join(dist, 'core/app-host'));
    const { defaultConfig } = require(path.join(dist, 'registry'));
    const { ServerLogger } = require(path.join(dist, 'logs/logger'));
    const { Level } = require(path.join(dist, 'logs/levels'));
    const { LuaHost } = require(path.join(dist, 'scripting/lua-host'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sockets-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www', 'main.lua'), ECHO_LUA);
    const logger = new ServerLogger({ level: Level.WARN, console: null, file: null });
    const ctx = new ServerContext(defaultConfig(dir), logger, new FolderHost(path.join(dir, 'www')), 'bench');
    const host = new LuaHost(ctx);
    ctx.host = host;
    host.start();
    port = host.app('')!.instance!.evaluate('return port', '=bench')[0] as number;
  }
  const start = process.cpuUsage();
  process.stdout.write(`${port}\n`);
  process.stdin.on('data', () => {
    const cpu = process.cpuUsage(start);
    process.stdout.write(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, rssMB: process.memoryUsage().rss / 1e6 }) + '\n');
    process.exit(0);
  });
}

/** Drives CLIENTS echo clients for `seconds`; resolves with the bytes echoed back. */
function drive(port: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    let echoed = 0;
    let stop = false;
    const payload = Buffer.alloc(CHUNK, 0x61);
    const sockets: net.Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const s = net.connect(port, '127.0.0.1');
      let outstanding = 0;
      const pump = (): void => {
        while (!stop && outstanding < IN_FLIGHT) {
          s.write(payload);
          outstanding += CHUNK;
        }
      };
      s.on('connect', pump);
      s.on('data', (d: Buffer) => {
        echoed += d.length;
        outstanding -= d.length;
        pump();
      });
      s.on('error', () => {});
      sockets.push(s);
    }
    setTimeout(() => {
      stop = true;
      for (const s of sockets) s.destroy();
      resolve(echoed);
    }, seconds * 1000);
  });
}

async function run(kind: string, seconds: number): Promise<{ mbps: number; cpuMsPerMB: number; rssMB: number }> {
  const p = spawn(process.execPath, [__filename, `--child=${kind}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  let buf = '';
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      wake?.();
    }
  });
  const next = async (): Promise<string> => {
    while (!lines.length) await new Promise<void>((r) => (wake = r));
    return lines.shift() as string;
  };
  const port = Number(await next());
  const bytes = await drive(port, seconds);
  p.stdin.write('report\n');
  const report = JSON.parse(await next()) as { cpuMs: number; rssMB: number };
  const mb = bytes / 1e6;
  return { mbps: mb / seconds, cpuMsPerMB: report.cpuMs / mb, rssMB: report.rssMB };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const seconds = Number(arg('seconds') ?? 5);
  const rounds = Number(arg('rounds') ?? 3);
  const kinds = ['lua', 'node'];
  const results = new Map<string, Array<{ mbps: number; cpuMsPerMB: number; rssMB: number }>>(kinds.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 ? [...kinds].reverse() : kinds) results.get(kind)!.push(await run(kind, seconds));
  }
  const table: Record<string, Record<string, string>> = {};
  for (const kind of kinds) {
    const runs = results.get(kind)!;
    table[kind === 'lua' ? 'Lua echo (script sockets)' : 'plain Node echo'] = {
      'MB/s echoed': median(runs.map((x) => x.mbps)).toFixed(1),
      'server CPU ms per MB': median(runs.map((x) => x.cpuMsPerMB)).toFixed(2),
      'server RSS MB': median(runs.map((x) => x.rssMB)).toFixed(0),
    };
  }
  console.log(`${rounds} rounds of ${seconds} s, ${CLIENTS} clients with ${IN_FLIGHT / 1024} KB in flight each, medians (node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.table(table);
}

const childArg = process.argv.find((a) => a.startsWith('--child='));
if (childArg) void child(childArg.slice('--child='.length));
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
