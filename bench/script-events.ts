/**
 * What scripts cost per event through the server's script host, for a Lua app and the same app in
 * JavaScript, side by side with another build (typically the previous commit's): a 4 KB video frame
 * delivered to `publication:onVideo(time, packet)`, an RPC `client:add(a, b)`, an RPC taking a
 * table (20 fields, 2 nested tables: the cost of a table crossing into the script), and from
 * inside the script a property read (`self.protocol`, `client.protocol`) and a method call
 * (`mona:time()`).
 *
 *   npx tsc -p . && node dist/bench/script-events.js [--baseline=/path/to/other/checkout] [--rounds=7] [--langs=lua,js]
 *   npx tsc -p . && node dist/bench/script-events.js --engines [--rounds=7]
 *
 * `--engines` compares the Lua engines of this build instead: LuaJIT (the addon) and fengari, chosen
 * in each child by MONATS_LUA_ENGINE.
 *
 * The baseline runs the Lua app only (a build before JavaScript apps has no JS engine).
 * Each round runs every side in its own child process (same workload, fresh process, alternating
 * order); the report gives each figure's median over the rounds and ours/baseline ratios. Only the
 * public host API (connect, call, publications) is used, so any build with a www/ app host works
 * as the baseline (build it first: its dist/ is loaded).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

const FRAMES = 100_000;
const CALLS = 50_000;
const LOOP = 200_000;

const MAIN_LUA = `
bytes = 0
function onConnection(c)
  function c:add(a, b) return a + b end
  function c:size(t) return t.k1 end
  function c:watch(name)
    local p = mona.publications(name)
    function p:onVideo(time, packet) bytes = bytes + #packet end
    return p ~= nil
  end
  function c:props(n) local s = 0 for i = 1, n do s = s + #self.protocol end return s end
  function c:times(n) local t = 0 for i = 1, n do t = mona:time() end return t end
end
`;

const MAIN_JS = `
let bytes = 0;
export function onConnection(c) {
  c.add = (a, b) => a + b;
  c.size = (t) => t.k1;
  c.watch = (name) => {
    const p = mona.publications(name);
    p.onVideo = (time, packet) => { bytes += packet.length; };
    return p !== undefined;
  };
  c.props = (n) => { let s = 0; for (let i = 0; i < n; i++) s += c.protocol.length; return s; };
  c.times = (n) => { let t = 0; for (let i = 0; i < n; i++) t = mona.time(); return t; };
}
`;

interface Figures {
  onVideoNs: number;
  rpcNs: number;
  tableRpcNs: number;
  propertyNs: number;
  methodNs: number;
}

/** Runs the workload on the build whose dist/ is `dist` and prints its figures as JSON. */
async function child(dist: string, lang: string): Promise<void> {
  const load = (m: string): any => require(path.join(dist, 'src', m));
  const { ServerContext } = load('core/context');
  const { FolderHost } = load('core/app-host');
  const { Client } = load('core/client');
  // builds before src/registry.ts had every default in config/schema
  const { defaultConfig } = fs.existsSync(path.join(dist, 'src', 'registry.js')) ? load('registry') : load('config/schema');
  const { ServerLogger } = load('logs/logger');
  const { Level } = load('logs/levels');
  const { LuaHost } = load('scripting/lua-host');
  const { Table } = load('serialization/value');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'script-events-'));
  try {
    fs.mkdirSync(path.join(dir, 'www'));
    if (lang === 'js') fs.writeFileSync(path.join(dir, 'www', 'main.js'), MAIN_JS);
    else fs.writeFileSync(path.join(dir, 'www', 'main.lua'), MAIN_LUA);
    const logger = new ServerLogger({ level: Level.WARN, console: null, file: null });
    const ctx = new ServerContext(defaultConfig(dir), logger, new FolderHost(path.join(dir, 'www')), 'bench');
    const host = new LuaHost(ctx);
    ctx.host = host;
    host.start();
    const BenchClient: new (address: string) => any = class extends (Client as new (address: string) => object) {
      readonly protocol = 'RTMP';
      get writer(): never {
        throw new Error('no writer');
      }
      close(): void {}
    };
    const client = new BenchClient('127.0.0.1:1');
    ctx.connect(client, []);
    const pub = ctx.publications.publish(null, 'bench');
    if (host.call(client, 'watch', ['bench'])[0] !== true) throw new Error('watch failed');
    const packet = Buffer.alloc(4096, 0x27);
    const time = (n: number, fn: (i: number) => void): number => {
      for (let i = 0; i < n / 10; i++) fn(i); // warm-up
      const t = performance.now();
      for (let i = 0; i < n; i++) fn(i);
      return ((performance.now() - t) * 1e6) / n;
    };
    const onVideoNs = time(FRAMES, (i) => pub.pushVideo(i, packet));
    const rpcNs = time(CALLS, (i) => host.call(client, 'add', [i, 1]));
    const arg = new Table();
    for (let k = 0; k < 20; k++) arg.set(`k${k}`, k % 3 ? k : `value ${k}`);
    arg.set('a', new Table([1, 2, 3])).set('b', new Table([], { x: 1, y: 'z' }));
    const tableRpcNs = time(CALLS, () => host.call(client, 'size', [arg]));
    const loop = (name: string): number => {
      host.call(client, name, [LOOP / 10]);
      const t = performance.now();
      host.call(client, name, [LOOP]);
      return ((performance.now() - t) * 1e6) / LOOP;
    };
    const figures: Figures = { onVideoNs, rpcNs, tableRpcNs, propertyNs: loop('props'), methodNs: loop('times') };
    await host.stop();
    process.stdout.write(JSON.stringify(figures));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main(): void {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const ours = path.join(__dirname, '..');
  const langs = (arg('langs') ?? 'lua,js').split(',');
  const sides: Array<{ name: string; dist: string; lang: string; engine?: string }> = process.argv.includes('--engines')
    ? [
        { name: 'luajit', dist: ours, lang: 'lua', engine: 'luajit' },
        { name: 'fengari', dist: ours, lang: 'lua', engine: 'fengari' },
      ]
    : langs.map((lang) => ({ name: lang === 'lua' ? 'ours' : `ours (${lang})`, dist: ours, lang }));
  const baseline = arg('baseline');
  if (baseline) sides.push({ name: 'baseline', dist: path.join(path.resolve(baseline), 'dist'), lang: 'lua' });
  const rounds = Number(arg('rounds') ?? 7);
  const results = new Map<string, Figures[]>(sides.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const env = side.engine ? { ...process.env, MONATS_LUA_ENGINE: side.engine } : process.env;
      const out = spawnSync(process.execPath, [__filename, `--child=${side.dist}`, `--lang=${side.lang}`], { encoding: 'utf8', timeout: 300_000, env });
      if (out.status !== 0) throw new Error(`${side.name}: ${out.stderr || out.error}`);
      results.get(side.name)!.push(JSON.parse(out.stdout) as Figures);
    }
  }
  const keys: Array<keyof Figures> = ['onVideoNs', 'rpcNs', 'tableRpcNs', 'propertyNs', 'methodNs'];
  const table: Record<string, Record<string, string>> = {};
  for (const side of sides) {
    const runs = results.get(side.name)!;
    table[side.name] = Object.fromEntries(keys.map((k) => [k, median(runs.map((f) => f[k])).toFixed(0)]));
  }
  if (table['ours (js)'] && table.ours) {
    table['js / lua'] = Object.fromEntries(keys.map((k) => [k, (Number(table['ours (js)'][k]) / Number(table.ours[k])).toFixed(2)]));
  }
  if (table.luajit && table.fengari) {
    table['luajit / fengari'] = Object.fromEntries(keys.map((k) => [k, (Number(table.luajit[k]) / Number(table.fengari[k])).toFixed(2)]));
  }
  if (baseline && table.ours) {
    table['ours / baseline'] = Object.fromEntries(keys.map((k) => [k, (Number(table.ours[k]) / Number(table.baseline[k])).toFixed(2)]));
  }
  console.log(`${rounds} rounds, medians in ns per event (node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.table(table);
}

const childArg = process.argv.find((a) => a.startsWith('--child='));
if (childArg) {
  const lang = process.argv.find((a) => a.startsWith('--lang='))?.slice('--lang='.length) ?? 'lua';
  child(childArg.slice('--child='.length), lang).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else main();
