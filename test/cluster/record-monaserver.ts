/**
 * Records the server-to-server link between real MonaServers into test/fixtures/cluster/ (see the
 * README there). Not a test: run by hand once MonaServer C++ is built (test/helpers/monaserver.ts
 * says where it is looked for):
 *
 *   npx tsc -p . && node dist/test/cluster/record-monaserver.js [scenario...]
 *
 * Scenarios: exchange (hello both ways, the app list, server:send both ways, broadcast, the
 * "Server is stopping" reject), reject (onServerConnection raising an error), restart (the target
 * restarted: when the initiator comes back).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { LUA_DUMP, MonaProcess, findMonaServer, freeTcpPort, monaIni, type MonaBuild } from '../helpers/monaserver';
import { TcpRecorder } from '../helpers/tcp-recorder';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cluster');

/** What the initiator sends with `server:send("ping", ...)`: one of each value kind. */
export const PING_ARGS_LUA = `1, 2.5, "text", true, false, -3, {1,2,3}, {a=1,b="text"}, {__raw="bytes"}, {1,x=2}, 2^40, nil, "", "h\\195\\169llo", {__time=1500000000000}, {list={10,20},obj={k="v"}}, string.rep("x", 200), 268435455, 268435456, 0.1, {}`;

interface Fixture {
  scenario: string;
  description: string;
  recordedWith: string;
  ini: Record<string, string>;
  lua: Record<string, string>;
  connections: Array<{
    conn: number;
    chunks: Array<{ from: 'initiator' | 'target'; t: number; hex: string }>;
    closedFirst: { side: 'initiator' | 'target'; t: number } | null;
  }>;
  /** lines the Lua apps printed (prefixed "@@" in the apps), per server */
  logs: Record<string, string[]>;
  /** MonaServer's own link log lines (connection, disconnection, errors), per server */
  linkLogs: Record<string, string[]>;
  notes?: Record<string, unknown>;
}

function monaVersion(build: MonaBuild): string {
  const root = path.dirname(path.dirname(build.binary));
  try {
    return `MonaSolutions/MonaServer ${execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()}`;
  } catch {
    return 'MonaSolutions/MonaServer master (commit 8180130, the newest stored snapshot)';
  }
}

function luaLines(p: MonaProcess): string[] {
  return p.log
    .split('\n')
    .filter((l) => l.includes('@@'))
    .map((l) => l.slice(l.indexOf('@@') + 2));
}

function linkLines(p: MonaProcess): string[] {
  return p.log
    .split('\n')
    .filter((l) => /ServerConnection\.cpp|Servers\.cpp/.test(l))
    .map((l) => l.replace(/^\S+\s+/, '').trim());
}

interface Played {
  proc: MonaProcess;
  ini: string;
  lua: string;
}

/** Writes one scenario: what each MonaServer ran and printed, and every chunk the proxy saw. */
function save(name: string, what: { scenario: string; description: string; notes?: Record<string, unknown> }, build: MonaBuild, servers: Record<string, Played>, rec: TcpRecorder): void {
  const each = <T>(f: (p: Played) => T) => Object.fromEntries(Object.entries(servers).map(([k, p]) => [k, f(p)]));
  const f: Fixture = {
    ...what,
    recordedWith: monaVersion(build),
    ini: each((p) => p.ini),
    lua: each((p) => p.lua),
    connections: [],
    logs: each((p) => luaLines(p.proc)),
    linkLogs: each((p) => linkLines(p.proc)),
  };
  for (let conn = 1; conn <= rec.connections; conn++) {
    const close = rec.closes.find((c) => c.conn === conn) ?? null;
    f.connections.push({
      conn,
      chunks: rec.chunks.filter((c) => c.conn === conn).map((c) => ({ from: c.from, t: c.t, hex: c.data.toString('hex') })),
      closedFirst: close && { side: close.side, t: close.t },
    });
  }
  fs.mkdirSync(FIXTURES, { recursive: true });
  fs.writeFileSync(path.join(FIXTURES, `${name}.json`), JSON.stringify(f, null, 1) + '\n');
  console.log(`wrote ${name}.json: ${rec.connections} connection(s), ${rec.chunks.length} chunks`);
}

const acceptorIni = (serversPort: number) => monaIni({ serversPort, extra: '[logs]\nrotation = 1\n' });
const initiatorIni = (targets: string) => monaIni({ targets, rtmp: false, http: true, extra: '[myGroup]\nmyConfig = 12\n' });

const DESCRIBE_SERVER = `
local function describe(who, server)
  local configs = server.configs
  local keys = {}
  for k in pairs(configs) do keys[#keys+1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts+1] = k .. "=" .. tostring(configs[k]) end
  NOTE("@@", who, " onServerConnection isTarget=", tostring(server.isTarget), " host=", tostring(server.host),
    " name=", tostring(server.name), " arg=", tostring(server.arg), " count=", mona.servers.count,
    " configs=", table.concat(parts, ";"))
end
`;

async function exchange(build: MonaBuild): Promise<void> {
  const bPort = await freeTcpPort();
  const rec = await TcpRecorder.start(bPort);
  const luaA = `${LUA_DUMP}${DESCRIBE_SERVER}
function onServerConnection(server)
  describe("A", server)
  function server:pong(...) NOTE("@@A got pong ", dumpArgs(...)) end
  function server:fromB(...) NOTE("@@A got fromB ", dumpArgs(...)) end
  server:send("ping", ${PING_ARGS_LUA})
  server:send("ping", "second")
  server:send("other")
  mona.servers:broadcast("bcast", "to all", 7)
end
function onServerDisconnection(server, err) NOTE("@@A onServerDisconnection ", tostring(err)) end
`;
  const luaB = `${LUA_DUMP}${DESCRIBE_SERVER}
function onServerConnection(server)
  describe("B", server)
  function server:ping(...) NOTE("@@B got ping ", dumpArgs(...)); self:send("pong", ...) end
  function server:other(...) NOTE("@@B got other ", dumpArgs(...)) end
  function server:bcast(...) NOTE("@@B got bcast ", dumpArgs(...)) end
  server:send("fromB", {name="B", list={1,2,3}}, 42)
end
function onServerDisconnection(server, err) NOTE("@@B onServerDisconnection ", tostring(err)) end
`;
  const iniB = await acceptorIni(bPort);
  const iniA = await initiatorIni(`127.0.0.1:${rec.port}?name=master&arg=val`);
  const B = MonaProcess.start(build, { name: 'B', ini: iniB, www: { 'main.lua': luaB } });
  await B.waitFor(/Servers incoming connection on .* started/);
  const A = MonaProcess.start(build, { name: 'A', ini: iniA, www: { 'main.lua': luaA } });
  try {
    await B.waitFor(/@@B got bcast/);
    await A.waitFor(/@@A got pong 1:/);
    await A.waitFor(/@@A got fromB/);
    await new Promise((r) => setTimeout(r, 300));
    await A.stop(); // A's clean stop rejects its servers with "Server is stopping"
    await B.waitFor(/@@B onServerDisconnection/);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await A.dispose();
    await B.dispose();
  }
  save(
    'monaserver-exchange',
    {
      scenario: 'exchange',
      description:
        'A (initiator, targets = the recording proxy ?name=master&arg=val) and B (acceptor). ' +
        'A sends ping (PING_ARGS), ping "second", other, broadcasts bcast; B answers each ping with pong and the same arguments and sends fromB on connection. ' +
        'Then A is stopped with SIGINT.',
    },
    build,
    { A: { proc: A, ini: iniA, lua: luaA }, B: { proc: B, ini: iniB, lua: luaB } },
    rec,
  );
  await rec.close();
}

async function reject(build: MonaBuild): Promise<void> {
  const cPort = await freeTcpPort();
  const rec = await TcpRecorder.start(cPort);
  const luaC = `
function onServerConnection(server)
  NOTE("@@C onServerConnection, rejecting")
  error("go away")
end
function onServerDisconnection(server, err) NOTE("@@C onServerDisconnection ", tostring(err)) end
`;
  const luaA = `
function onServerConnection(server) NOTE("@@A onServerConnection") server:send("early", 1) end
function onServerDisconnection(server, err) NOTE("@@A onServerDisconnection ", tostring(err)) end
`;
  const iniC = await acceptorIni(cPort);
  const iniA = await initiatorIni(`127.0.0.1:${rec.port}`);
  const C = MonaProcess.start(build, { name: 'C', ini: iniC, www: { 'main.lua': luaC } });
  await C.waitFor(/Servers incoming connection on .* started/);
  const A = MonaProcess.start(build, { name: 'A', ini: iniA, www: { 'main.lua': luaA } });
  try {
    await A.waitFor(/@@A onServerDisconnection/);
    await C.waitFor(/@@C onServerDisconnection/);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await A.dispose();
    await C.dispose();
  }
  save(
    'monaserver-reject',
    {
      scenario: 'reject',
      description: "A connects to C, whose onServerConnection raises error(\"go away\"): C answers A's hello with its own hello, then a reject carrying the error text, and closes.",
    },
    build,
    { A: { proc: A, ini: iniA, lua: luaA }, C: { proc: C, ini: iniC, lua: luaC } },
    rec,
  );
  await rec.close();
}

async function restart(build: MonaBuild): Promise<void> {
  const bPort = await freeTcpPort();
  const rec = await TcpRecorder.start(bPort);
  const luaA = `
function onServerConnection(server) NOTE("@@A onServerConnection ", mona:time()) end
function onServerDisconnection(server, err) NOTE("@@A onServerDisconnection ", tostring(err), " ", mona:time()) end
`;
  const luaB = `function onServerConnection(server) NOTE("@@B onServerConnection") end\n`;
  const iniB = await acceptorIni(bPort);
  const iniA = await initiatorIni(`127.0.0.1:${rec.port}`);
  let B = MonaProcess.start(build, { name: 'B', ini: iniB, www: { 'main.lua': luaB } });
  await B.waitFor(/Servers incoming connection on .* started/);
  const A = MonaProcess.start(build, { name: 'A', ini: iniA, www: { 'main.lua': luaA } });
  const times: Record<string, number> = {};
  const t0 = Date.now();
  try {
    await A.waitFor(/@@A onServerConnection/);
    times.firstConnection = Date.now() - t0;
    await B.dispose();
    times.targetStopped = Date.now() - t0;
    await A.waitFor(/@@A onServerDisconnection/);
    B = MonaProcess.start(build, { name: 'B', ini: iniB, www: { 'main.lua': luaB } });
    await B.waitFor(/Servers incoming connection on .* started/);
    times.targetRestarted = Date.now() - t0;
    const from = A.log.length;
    await A.waitFor(/@@A onServerConnection/, 40_000, from);
    times.reconnected = Date.now() - t0;
  } finally {
    await A.dispose();
    await B.dispose();
  }
  const attempts = (A.log.match(/Attempt to join/g) ?? []).length;
  save(
    'monaserver-restart',
    {
      scenario: 'restart',
      description:
        'A connected to B; B stopped (SIGINT: it rejects A with "Server is stopping"), then restarted on the same port; A retries on its own and reconnects. ' +
        'notes.times are ms since A started; notes.attempts counts "Attempt to join" lines of A.',
      notes: { times, attempts, attemptTimes: rec.chunks.filter((c) => c.from === 'initiator' && c.data.length > 8 && c.data[5] === 0).map((c) => c.t) },
    },
    build,
    { A: { proc: A, ini: iniA, lua: luaA }, B: { proc: B, ini: iniB, lua: luaB } },
    rec,
  );
  await rec.close();
}

async function main(): Promise<void> {
  const build = findMonaServer();
  if (!build) {
    console.error('MonaServer C++ not found (set MONASERVER_DIR to its source tree, built)');
    process.exit(2);
  }
  const wanted = process.argv.slice(2);
  const all: Record<string, (b: MonaBuild) => Promise<void>> = { exchange, reject, restart };
  for (const [name, run] of Object.entries(all)) if (!wanted.length || wanted.includes(name)) await run(build);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
