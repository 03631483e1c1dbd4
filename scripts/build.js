#!/usr/bin/env node
'use strict';
// `prepare` (run by `npm ci`/`npm install` in the repo and by `npm pack`/`npm publish`): compiles
// src/ into dist/src/, what the package ships and `npm start` runs. TypeScript is a
// devDependency: an install without devDependencies (`npm ci --omit=dev`) keeps an existing build
// instead of failing, and says so.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch {
  if (fs.existsSync(path.join(root, 'dist', 'src', 'cli.js'))) {
    console.log('monats: typescript is not installed (no devDependencies), keeping the existing build in dist/');
    process.exit(0);
  }
  console.error('monats: cannot build: typescript is not installed and there is no build in dist/ (run npm ci with devDependencies)');
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
