#!/usr/bin/env node
'use strict';
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, then the script
// tests once more on the fallback Lua engine (see below).
// Optional arguments filter test files by substring: `npm test -- amf rtmp`.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'test');
const sourceOf = (compiled) => path.join(__dirname, '..', path.relative(path.join(__dirname, '..', 'dist'), compiled)).replace(/\.js$/, '.ts');
const files = [];
(function walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full);
    // a compiled test whose source was deleted or moved is stale output, not a test
    else if (entry.name.endsWith('.test.js') && fs.existsSync(sourceOf(full))) files.push(full);
  }
})(root);
files.sort();
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (!selected.length) {
  console.error('no test file matched');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', ...selected], {
  stdio: 'inherit',
});
let status = result.status === null ? 1 : result.status;

// The script tests ran on LuaJIT when its addon is built (the server's choice): they run once more
// on fengari, the fallback engine. test/scripting/lua/ is left out: its tests name their engines.
const addon = path.join(__dirname, '..', 'native', 'luajit', 'build', 'Release', 'monats_luajit.node');
const lua = selected.filter((f) => {
  const rel = path.relative(root, f).split(path.sep);
  if (rel[0] === 'scripting') return rel[1] !== 'lua';
  return /lua/.test(rel[rel.length - 1]);
});
if (lua.length && fs.existsSync(addon) && !process.env.MONATS_LUA_ENGINE) {
  console.log(`\n# the ${lua.length} script test files again, on fengari (MONATS_LUA_ENGINE=fengari)`);
  const again = spawnSync(process.execPath, ['--test', ...lua], {
    stdio: 'inherit',
    env: { ...process.env, MONATS_LUA_ENGINE: 'fengari' },
  });
  if (status === 0) status = again.status === null ? 1 : again.status;
}
process.exit(status);
