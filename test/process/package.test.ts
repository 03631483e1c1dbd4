/**
 * The npm package as a user gets it: the repo's files (without dist/, tests, benches) are packed
 * with `npm pack`, whose `prepare` must build dist/ itself; the tarball holds the built JavaScript,
 * the sample www/, the sample MonaServer.ini and the systemd unit, and no sources or tests; it
 * installs with `npm i -g --prefix` and runs with `npx`; the installed `monats` serves a file over
 * HTTP from an empty folder on ephemeral ports and stops cleanly; `npm start` in the installed
 * package (no devDependencies, no TypeScript) starts the built server.
 *
 * The dependencies come from the npm cache when it has them (--prefer-offline), else from the
 * registry: without network access the install step is skipped locally and fails in CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { curl, requireTool } from '../helpers/http-server';
import { freePorts, startCli, tempDir, writeIni } from './helpers';

const ROOT = path.join(__dirname, '..', '..', '..');
const NETWORK_ERROR = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|ENOTCACHED/;

/** The repo as a clean checkout has it (tracked and new files), minus what the build does not need. */
function copyCheckout(to: string): void {
  const r = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ls-files: ${r.stderr}`);
  for (const file of r.stdout.split('\n')) {
    if (!file || /^(test|bench|dist)\//.test(file) || !fs.existsSync(path.join(ROOT, file))) continue;
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(to, file));
  }
  // the build needs TypeScript: the repo's installed devDependencies, as `npm ci` gives them
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(to, 'node_modules'));
}

/** A shell command in `cwd`: stdout and stderr together. */
function sh(command: string, cwd: string, timeoutMs = 240_000) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
    resolve({ code: r.status, out: `${r.stdout}${r.stderr}` });
  });
}

/** Removes the npx cache entries that installed `tarball` (npx keeps one per package spec). */
function forgetNpx(tarball: string): void {
  const cache = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();
  const dir = path.join(cache, '_npx');
  if (!cache || !fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir)) {
    try {
      const pkg = fs.readFileSync(path.join(dir, entry, 'package.json'), 'utf8');
      if (pkg.includes(path.basename(path.dirname(tarball)))) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    } catch {
      // not one of ours
    }
  }
}

test('npm pack of a clean checkout builds and ships only what runs; npm i -g and npx run it', { timeout: 600_000 }, async (t: TestContext) => {
  if (!requireTool(t, 'npm') || !requireTool(t, 'curl')) return;
  const work = tempDir('monats-package-');
  const checkout = path.join(work, 'checkout');
  const out = path.join(work, 'out');
  fs.mkdirSync(out);
  copyCheckout(checkout);
  assert.ok(!fs.existsSync(path.join(checkout, 'dist')), 'the copy has no build');

  const packed = await sh(`npm pack --no-update-notifier --pack-destination ${JSON.stringify(out)}`, checkout);
  assert.equal(packed.code, 0, packed.out);
  const tarballs = fs.readdirSync(out).filter((f) => f.endsWith('.tgz'));
  assert.equal(tarballs.length, 1, packed.out);
  const tarball = path.join(out, tarballs[0]);
  const listing = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const f of ['dist/src/cli.js', 'dist/src/server.js', 'dist/src/admin/api.js', 'www/main.lua', 'www/live/main.lua', 'www/index.html', 'www/chat/main.ts', 'www/api/main.js', 'www/monats.d.ts', 'www/tsconfig.json', 'etc/MonaServer.ini', 'etc/monats.service', 'README.md', 'package.json'])
    assert.ok(listing.includes(`package/${f}`), `${f} is in the package`);
  // TypeScript under www/ is the sample apps' source and their API declarations: they ship
  const stray = listing.filter((f) => /^package\/(test|bench|src)\//.test(f) || (/\.(ts|map)$/.test(f) && !f.startsWith('package/www/')) || f.includes('tsbuildinfo'));
  assert.deepEqual(stray, [], 'no sources, tests, benches or maps');

  // npm i -g into a temp prefix
  const prefix = path.join(work, 'prefix');
  const installed = await sh(`npm i -g --no-audit --no-fund --no-update-notifier --prefer-offline --prefix ${JSON.stringify(prefix)} ${JSON.stringify(tarball)}`, work);
  if (installed.code !== 0 && NETWORK_ERROR.test(installed.out) && !process.env.CI) {
    t.skip(`the registry is unreachable for the dependencies: ${installed.out.split('\n')[0]}`);
    return;
  }
  assert.equal(installed.code, 0, installed.out);
  const bin = path.join(prefix, 'bin', 'monats');
  assert.ok(fs.existsSync(bin), 'bin/monats installed');
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
  assert.equal((await sh(`${JSON.stringify(bin)} --version`, work)).out, `monats ${version}\n`);

  // the installed server in an empty folder, on free ports: banner, sample www/, a file over HTTP, clean stop
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  const ports = await freePorts();
  const ini = writeIni(app, ports);
  const server = startCli([`--config=${ini}`], app, bin);
  t.after(() => server.kill());
  await server.waitFor(/HTTP server started on \S+:\d+/);
  await server.waitFor(/Admin server started on/);
  assert.match(server.output(), new RegExp(`NOTE   Server  monats ${version.replace(/\./g, '\\.')} \\(MonaServer-compatible\\)`));
  assert.match(server.output(), /serving applications from .*\(new: a copy of the bundled sample/);
  const page = await curl([`http://127.0.0.1:${ports.http}/index.html`]);
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<h1>monats is running<\/h1>/);
  const metrics = await curl([`http://127.0.0.1:${ports.admin}/metrics`]);
  assert.equal(metrics.status, 200, 'the admin listener finds its files in the installed package');
  const player = await curl([`http://127.0.0.1:${ports.admin}/assets/mpegts.js`]);
  assert.equal(player.status, 200, 'mpegts.js is installed as a dependency');
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  assert.match(server.output(), /Server stopped\n$/);

  // npm start in the installed package: no devDependencies, no TypeScript, the build as shipped
  const pkgDir = path.join(prefix, 'lib', 'node_modules', 'monats');
  assert.ok(!fs.existsSync(path.join(pkgDir, 'node_modules', 'typescript')));
  const started = await sh('npm start --no-update-notifier -- --version', pkgDir);
  assert.equal(started.code, 0, started.out);
  assert.match(started.out, new RegExp(`monats ${version.replace(/\./g, '\\.')}\\n`));

  // npx from the tarball (npx keeps an install per package spec in npm's cache: removed after)
  t.after(() => forgetNpx(tarball));
  const npx = await sh(`npm exec --yes --prefer-offline --no-update-notifier --package=${JSON.stringify(tarball)} -- monats --version`, work);
  assert.equal(npx.code, 0, npx.out);
  assert.match(npx.out, new RegExp(`monats ${version.replace(/\./g, '\\.')}\\n`));

  // the systemd unit is valid for systemd, pointing at the installed executable
  const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
  if (analyze) {
    const unit = path.join(work, 'monats.service');
    fs.writeFileSync(unit, fs.readFileSync(path.join(pkgDir, 'etc', 'monats.service'), 'utf8').replace(/^ExecStart=\/usr\/local\/bin\/monats/m, `ExecStart=${bin}`));
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no warning');
  } else t.diagnostic('systemd-analyze not installed: the unit file was not verified');
});
