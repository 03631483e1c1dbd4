#!/usr/bin/env node
'use strict';
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
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
process.exit(result.status === null ? 1 : result.status);
