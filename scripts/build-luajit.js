#!/usr/bin/env node
'use strict';
// Builds the LuaJIT addon (native/luajit) with node-gyp. Run by `npm ci`/`npm install` (the
// package's install script) and by `npm run build:luajit`. It never fails the install: without a
// C++ toolchain or Debian's libluajit-5.1-dev it prints one line saying what is missing, and the
// server runs its Lua apps on fengari (with a warning at start). `--verbose` shows node-gyp's
// output instead of keeping it in native/luajit/build.log.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'native', 'luajit');
const log = path.join(dir, 'build.log');
const verbose = process.argv.includes('--verbose');
const SETUP = 'install g++, make, python3 and libluajit-5.1-dev, then run `npm run build:luajit`';

function say(line) {
  console.log(`monats: ${line}`);
}

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function luajitHeaders() {
  if (has('pkg-config', ['--exists', 'luajit'])) return true;
  return fs.existsSync('/usr/include/luajit-2.1/lua.h');
}

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside us: npm's own copy above
  }
  return candidates.find((c) => c && fs.existsSync(c));
}

function main() {
  const missing = [];
  if (!has('c++', ['--version']) && !has('g++', ['--version'])) missing.push('a C++ compiler');
  if (!has('make', ['--version'])) missing.push('make');
  if (!has('python3', ['--version'])) missing.push('python3');
  if (!luajitHeaders()) missing.push('libluajit-5.1-dev');
  const gyp = nodeGyp();
  if (!gyp) missing.push('node-gyp');
  if (missing.length) {
    say(`LuaJIT addon not built (missing ${missing.join(', ')}): Lua apps will run on fengari; ${SETUP}`);
    return;
  }
  const args = [gyp, 'rebuild', '--directory', dir];
  // Node's own headers when they sit beside it (npm passes its nodedir setting itself): no download
  const local = path.join(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(local, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${local}`);
  }
  const r = spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
  if (!verbose) fs.writeFileSync(log, `${r.stdout || ''}${r.stderr || ''}`);
  const addon = path.join(dir, 'build', 'Release', 'monats_luajit.node');
  if (r.status !== 0 || !fs.existsSync(addon)) {
    say(`LuaJIT addon build failed (see ${path.relative(root, log)}): Lua apps will run on fengari; ${SETUP}`);
    return;
  }
  const check = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(addon)}).version)`], { encoding: 'utf8' });
  if (check.status !== 0) {
    say(`LuaJIT addon built but does not load (${(check.stderr || '').trim().split('\n')[0]}): Lua apps will run on fengari`);
    return;
  }
  say(`LuaJIT addon built (${check.stdout.trim()})`);
}

try {
  main();
} catch (e) {
  say(`LuaJIT addon not built (${e && e.message}): Lua apps will run on fengari; ${SETUP}`);
}
