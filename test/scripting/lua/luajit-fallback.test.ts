/**
 * Where the LuaJIT addon cannot be built or loaded: the install step prints one line and succeeds,
 * and the server runs its Lua apps on fengari with one warning saying what to install.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.join(__dirname, '..', '..', '..', '..');

test('without a toolchain the install step prints one line and succeeds', () => {
  // a PATH holding node alone: no compiler, make, python3 or pkg-config
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'no-toolchain-'));
  try {
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const r = spawnSync(path.join(bin, 'node'), [path.join(ROOT, 'scripts', 'build-luajit.js')], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: process.env.HOME ?? '/' },
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0], /^monats: LuaJIT addon not built \(missing a C\+\+ compiler, make, python3.*\): Lua apps will run on fengari; install g\+\+, make, python3 and libluajit-5\.1-dev/);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

test('without the addon the server runs Lua on fengari and warns once, naming what to install', () => {
  const script = `
    const { openLuaEngine } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'scripting', 'lua', 'open.js'))});
    const warnings = [];
    const logger = { warn: (c, m) => warnings.push(m), error() {}, info() {}, note() {}, debug() {}, trace() {}, fatal() {}, critic() {}, log() {} };
    const a = openLuaEngine(logger);
    const b = openLuaEngine(logger);
    console.log(JSON.stringify({ engines: [a.engine, b.engine], warnings }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: { ...process.env, MONATS_LUAJIT_ADDON: path.join(os.tmpdir(), 'no-such-addon.node'), MONATS_LUA_ENGINE: '' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { engines: string[]; warnings: string[] };
  assert.deepEqual(out.engines, ['fengari', 'fengari']);
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0], /LuaJIT unavailable .*: Lua apps run on fengari/);
});

test('an addon that is not built names the packages to install', () => {
  const script = `
    const path = require('path');
    const { luajitUnavailable } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'scripting', 'lua', 'luajit.js'))});
    console.log(luajitUnavailable() ?? 'available');
  `;
  // a copy of the compiled adapter outside the repository finds no addon above it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-addon-'));
  try {
    const lib = path.join(dir, 'lib');
    fs.mkdirSync(lib);
    for (const f of ['luajit.js', 'api.js']) fs.copyFileSync(path.join(ROOT, 'dist', 'src', 'scripting', 'lua', f), path.join(lib, f));
    const r = spawnSync(process.execPath, ['-e', script.replace(JSON.stringify(path.join(ROOT, 'dist', 'src', 'scripting', 'lua', 'luajit.js')), JSON.stringify(path.join(lib, 'luajit.js')))], {
      encoding: 'utf8',
      env: { ...process.env, MONATS_LUAJIT_ADDON: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /the LuaJIT addon is not built: install g\+\+, make, python3 and libluajit-5\.1-dev, then run `npm run build:luajit`/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
