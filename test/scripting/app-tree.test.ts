/**
 * The app tree on real Lua files: www/ creation, URL → deepest app, lazy loading,
 * inheritance with shadowing/un-shadowing, super, parents and children by name, event fallback,
 * require/dofile/loadfile across parent folders, hot reload and unload.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Level } from '../../src/logs/levels';
import { Table, toJS } from '../../src/serialization/value';
import { evalIn, evalRoot, expireReloadChecks, FakeClient, makeAppDir, rewriteFile, startLua } from './lua-fixtures';

const ROOT = `
events = {}
function log(e) events[#events + 1] = e end
function onStart(path) log('start:' .. path) end
function onStop(path) log('stop:' .. path) end
shared = 'root'
function hello(who) return 'hello ' .. tostring(who) .. ' from ' .. path end
function whoami() return name end
`;

test('www/ is created and the root app starts at start', async () => {
  const dir = makeAppDir({});
  const s = await startLua(dir);
  try {
    assert.ok(fs.statSync(path.join(dir, 'www')).isDirectory());
    assert.deepEqual(s.host.loadedApps(), ['']);
  } finally {
    await s.close();
  }
});

test('URL paths resolve to the deepest existing app; others load on first use', async () => {
  const dir = makeAppDir({
    'www/main.lua': ROOT,
    'www/Games/main.lua': 'function onStart(p) super.log("games:" .. p) end',
    'www/Games/myGame/main.lua': '',
    'www/live/.keep': '',
  });
  const s = await startLua(dir);
  try {
    assert.deepEqual(s.host.resolve('/Games/myGame/level1'), { app: '/Games/myGame', rest: 'level1' });
    assert.deepEqual(s.host.resolve('/live/stream1'), { app: '/live', rest: 'stream1' });
    assert.deepEqual(s.host.resolve('/nothing/here'), { app: '', rest: 'nothing/here' });
    assert.equal(s.host.exists('/nothing'), false);
    assert.deepEqual(s.host.loadedApps(), ['']);
    const c = new FakeClient('/Games/myGame');
    s.ctx.connect(c, []);
    assert.deepEqual(s.host.loadedApps().sort(), ['', '/Games', '/Games/myGame']);
    // /Games has its own onStart; /Games/myGame has none and falls back to /Games' one
    assert.deepEqual(toJS(evalRoot(s, 'return events')[0]), ['start:', 'games:/Games', 'games:/Games/myGame']);
  } finally {
    await s.close();
  }
});

test('a client of a missing app is refused with InvalidApp', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': ROOT }));
  try {
    assert.throws(() => s.ctx.connect(new FakeClient('/nope'), []), { name: 'InvalidApp', message: "Application /nope doesn't exist" });
  } finally {
    await s.close();
  }
});

test('globals fall back to the parent; assigning shadows, nil un-shadows; super and names reach parents', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': ROOT,
      'www/Games/main.lua': `
        shared = 'games'
        function test() return 'Games.test' end
        function hello(who) return 'games says ' .. super:hello(who) end
      `,
      'www/Games/myGame/main.lua': `
        function load() return 'loaded ' .. name end
        function parentByName() return Games.test() .. '/' .. Games:test() end
      `,
    }),
  );
  try {
    s.host.app('/Games/myGame');
    assert.deepEqual(evalIn(s, '/Games/myGame', 'return shared, whoami(), name, path, super.name'), ['games', '', 'myGame', '/Games/myGame', 'Games']);
    assert.deepEqual(evalIn(s, '/Games/myGame', 'shared = "mine" return shared, super.shared'), ['mine', 'games']);
    assert.deepEqual(evalIn(s, '/Games/myGame', 'shared = nil return shared'), ['games']);
    // (whoami above is the root's function: it runs in the root, where `name` is "")
    // the root's function runs in the root: `path` inside it is the root's
    assert.deepEqual(evalIn(s, '/Games', 'return hello("bob")'), ['games says hello bob from ']);
    assert.deepEqual(evalIn(s, '/Games/myGame', 'return parentByName()'), ['Games.test/Games.test']);
    // parents reach loaded children by name, calling with ':' without passing the app
    assert.deepEqual(evalIn(s, '/Games', 'return myGame:load(), myGame.load(), children.myGame ~= nil'), ['loaded myGame', 'loaded myGame', true]);
    assert.deepEqual(evalRoot(s, 'return Games ~= nil, Games.myGame:load()'), [true, 'loaded myGame']);
    assert.deepEqual(evalRoot(s, 'return this.shared, super'), ['root', null]);
  } finally {
    await s.close();
  }
});

test('children are nil until loaded; children("name") loads one eagerly', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': ROOT + '\nfunction loadChild() return children("eager") ~= nil, eager ~= nil end',
      'www/eager/main.lua': 'function onStart(p) super.log("eager started") end value = 7',
      'www/lazy/main.lua': 'value = 8',
    }),
  );
  try {
    assert.deepEqual(evalRoot(s, 'return lazy, eager'), [null, null]);
    assert.deepEqual(evalRoot(s, 'return loadChild()'), [true, true]);
    assert.deepEqual(evalRoot(s, 'return eager.value, children("missing") == nil'), [7, true]);
    const names = evalRoot(s, 'local n = {} for k in pairs(children) do n[#n+1] = k end return #children, n[1]');
    assert.deepEqual(names, [1, 'eager']);
  } finally {
    await s.close();
  }
});

test('require, dofile and loadfile resolve from the app folder, then each parent', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': ROOT,
      'www/lib/util.lua': 'return { twice = function(x) return 2 * x end, where = path }',
      'www/common.lua': 'common = (common or 0) + 1 return "common ran in " .. path',
      'www/Games/helpers.lua': 'return "games helper"',
      'www/Games/myGame/main.lua': `
        local util = require("lib.util")
        local util2 = require("lib.util")
        same = util == util2
        twice = util.twice(21)
        whereRequired = util.where
        helper = require("helpers")
        ran = dofile("common.lua")
        local f = loadfile("common.lua")
        ranAgain = f()
        missing = loadfile("nothing.lua")
      `,
    }),
  );
  try {
    s.host.app('/Games/myGame');
    assert.deepEqual(evalIn(s, '/Games/myGame', 'return same, twice, whereRequired, helper, ran, ranAgain, common, missing'), [
      true,
      42,
      '/Games/myGame',
      'games helper',
      'common ran in /Games/myGame',
      'common ran in /Games/myGame',
      2,
      null,
    ]);
    // the standard Lua path still answers for standard modules
    assert.deepEqual(evalIn(s, '/Games/myGame', 'return type(require("string").format)'), ['function']);
  } finally {
    await s.close();
  }
});

test('hot reload: rewriting main.lua runs onStop then onStart with the new code; deleting unloads', async () => {
  const dir = makeAppDir({
    'www/main.lua': ROOT,
    'www/app/main.lua': 'version = 1 function onStop(p) super.log("stop v1 " .. p) end',
  });
  const s = await startLua(dir);
  try {
    const c = new FakeClient('/app');
    s.ctx.connect(c, []);
    assert.deepEqual(evalIn(s, '/app', 'return version'), [1]);
    rewriteFile(dir, 'www/app/main.lua', 'version = 2 function onStart(p) super.log("start v2 " .. p) end');
    expireReloadChecks(s.host);
    assert.deepEqual(evalIn(s, '/app', 'return version'), [2]);
    const events = toJS(evalRoot(s, 'return events')[0]) as string[];
    assert.deepEqual(events.slice(-2), ['stop v1 /app', 'start v2 /app']);
    // the root reloads too, keeping its children linked; using a child looks at its parents
    rewriteFile(dir, 'www/main.lua', ROOT + '\nrootVersion = 2');
    expireReloadChecks(s.host);
    assert.deepEqual(evalIn(s, '/app', 'return rootVersion, version'), [2, 2]);
    assert.deepEqual(evalRoot(s, 'return rootVersion, app.version'), [2, 2]);
    // deleting the folder unloads the app (onStop) and removes it from its parent
    fs.rmSync(path.join(dir, 'www/app'), { recursive: true });
    expireReloadChecks(s.host);
    assert.equal(s.host.app('/app'), null);
    assert.deepEqual(evalRoot(s, 'return app'), [null]);
    assert.ok(!s.host.loadedApps().includes('/app'));
  } finally {
    await s.close();
  }
});

test('hot reload: rewriting a file required from a parent folder or dofile\'d from its own reloads the app', async () => {
  const dir = makeAppDir({
    'www/main.lua': ROOT,
    'www/lib.lua': 'local M = {} function M.version() return 1 end return M',
    'www/app/main.lua': `
      local lib = require("lib.lua")
      function version() return lib.version() end
      dofile("conf.lua")
      function onStart(p) super.log("start " .. p .. " v" .. lib.version() .. " " .. conf) end
      function onStop(p) super.log("stop " .. p .. " v" .. lib.version()) end`,
    'www/app/conf.lua': 'conf = "a"',
  });
  const s = await startLua(dir);
  try {
    assert.deepEqual(evalIn(s, '/app', 'return version(), conf'), [1, 'a']);
    const events = () => toJS(evalRoot(s, 'return events')[0]) as string[];
    const before = events().length;
    // nothing changed: a check does not reload
    expireReloadChecks(s.host);
    assert.deepEqual(evalIn(s, '/app', 'return version()'), [1]);
    assert.equal(events().length, before);
    // the parent folder's lib.lua changes: onStop (old code), rerun, onStart (new code)
    rewriteFile(dir, 'www/lib.lua', 'local M = {} function M.version() return 2 end return M');
    expireReloadChecks(s.host);
    assert.deepEqual(evalIn(s, '/app', 'return version()'), [2]);
    assert.deepEqual(events().slice(before), ['stop /app v1', 'start /app v2 a']);
    assert.ok(s.logger.at(Level.INFO).some((l) => l.includes('application /app reloaded (www/lib.lua changed)')), s.logger.at(Level.INFO).join('\n'));
    // the root did not load lib.lua: it did not reload
    assert.ok(!events().includes('stop:'));
    // a file of its own folder loaded by dofile
    rewriteFile(dir, 'www/app/conf.lua', 'conf = "b"');
    expireReloadChecks(s.host);
    assert.deepEqual(evalIn(s, '/app', 'return conf'), ['b']);
    assert.deepEqual(events().slice(-2), ['stop /app v2', 'start /app v2 b']);
  } finally {
    await s.close();
  }
});

test('an app without main.lua behaves as its parent; a Lua error in main.lua is logged with file:line', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': ROOT + '\nfunction onConnection(client) return { from = path } end',
      'www/empty/.keep': '',
      'www/broken/main.lua': 'x = 1\nlocal y = nil + 1\n',
    }),
  );
  try {
    const r = s.ctx.connect(new FakeClient('/empty'), []);
    assert.ok(r instanceof Table);
    assert.equal(r.get('from'), '');
    s.ctx.connect(new FakeClient('/broken'), []);
    const errors = s.logger.at(Level.ERROR);
    assert.ok(errors.some((e) => e.startsWith('www/broken/main.lua:2: ') && e.includes('arithmetic')), errors.join('\n'));
  } finally {
    await s.close();
  }
});
