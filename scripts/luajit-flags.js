#!/usr/bin/env node
'use strict';
// Compiler flags for Debian's libluajit-5.1-dev, for native/luajit/binding.gyp:
// `include` prints the include folders, `libs` the linker flags (pkg-config when it knows LuaJIT).
const { execFileSync } = require('node:child_process');

function pkgConfig(args) {
  try {
    return execFileSync('pkg-config', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

if (process.argv[2] === 'include') {
  const flags = pkgConfig(['--cflags-only-I', 'luajit']);
  const dirs = flags ? flags.split(/\s+/).filter(Boolean).map((f) => f.replace(/^-I/, '')) : [];
  console.log(dirs.length ? dirs.join(' ') : '/usr/include/luajit-2.1');
} else {
  console.log(pkgConfig(['--libs', 'luajit']) || '-lluajit-5.1');
}
