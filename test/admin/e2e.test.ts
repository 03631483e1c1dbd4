/**
 * The admin listener of the real executable, with real clients: ffmpeg publishes over RTMP into
 * an empty application folder (the sample's live/ app), curl reads the JSON API and the Prometheus
 * metrics with the password (Basic and bearer), Debian's chromium (playwright-core) opens the
 * dashboard, sees the publication and plays it in the page (mpegts.js over WebSocket-FLV) while the
 * video's time advances, then curl kicks the publisher.
 *
 * The dashboard screenshot goes to the test's temp folder; with MONATS_UPDATE_DOCS=1 it also
 * replaces docs/dashboard.png (the README's picture), so that a normal run leaves the repo as it was.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { curl, requireTool } from '../helpers/http-server';
import { parsePrometheusText } from '../helpers/prometheus-parser';
import { freePorts, startCli, tempDir, waitUntil, writeIni } from '../process/helpers';
import { run, testFLV } from '../protocols/rtmp/helpers';

const PASSWORD = 'admin pass';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
];

async function json(url: string, extra: string[] = []): Promise<any> {
  const r = await curl(['-u', `admin:${PASSWORD}`, ...extra, url]);
  assert.equal(r.status, 200, `${url}: ${r.body.toString()}`);
  return JSON.parse(r.body.toString());
}

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('admin API with curl, metrics, dashboard in chromium playing an ffmpeg publication, kick', { timeout: 180_000 }, async (t: TestContext) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'curl')) return;
  if (!fs.existsSync('/usr/bin/chromium')) {
    if (process.env.CI) throw new Error('chromium is required in CI');
    t.skip('chromium not installed');
    return;
  }
  const dir = tempDir('monats-admin-e2e-');
  const ports = await freePorts();
  const ini = writeIni(dir, ports, `[admin]\npassword=${PASSWORD}\n`);
  const server = startCli([`--config=${ini}`], dir);
  t.after(async () => {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.kill(), 10_000);
    await server.exited;
    clearTimeout(timer);
  });
  await server.waitFor(/Admin server started on 127\.0\.0\.1:\d+ \(HTTP: API, metrics, dashboard\), password required/);
  const base = `http://127.0.0.1:${ports.admin}`;

  // the password is required: 401 with a Basic challenge, then Basic and bearer both pass
  const denied = await curl([`${base}/v1/server`]);
  assert.equal(denied.status, 401);
  assert.match(denied.headers, /WWW-Authenticate: Basic realm="monats admin"/i);
  const info = await json(`${base}/v1/server`);
  assert.equal(info.product, 'monats');
  assert.equal(info.ports.rtmp, ports.rtmp);
  assert.deepEqual(info.listening.map((l: { protocol: string }) => l.protocol).sort(), ['HTTP', 'RTMFP', 'RTMP']);
  const bearer = await curl(['-H', `Authorization: Bearer ${PASSWORD}`, `${base}/v1/apps`]);
  assert.equal(bearer.status, 200);
  assert.deepEqual(JSON.parse(bearer.body.toString()).map((a: { path: string }) => a.path), ['/', '/api', '/chat', '/live'], 'the sample apps');

  // ffmpeg publishes rtmp://host/live/cam (looped so that it lasts the whole test)
  const publisher = run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testFLV(), '-c', 'copy', '-f', 'flv',
    `rtmp://127.0.0.1:${ports.rtmp}/live/cam`,
  ], 150_000);
  t.after(() => publisher.kill());
  const pub = await until('the publication with its codecs and bit rate', async () => {
    const list = await json(`${base}/v1/publications`);
    const p = list.find((x: { name: string }) => x.name === 'cam');
    return p && p.bitrateIn > 0 && p.codecs.video ? p : undefined;
  });
  assert.equal(pub.app, '/live');
  assert.deepEqual(pub.codecs, { video: 'H.264', audio: 'AAC' });
  assert.equal(pub.publisher.protocol, 'RTMP');
  assert.ok(pub.bitrateIn > 50_000 && pub.bitrateIn < 2_000_000, `bitrateIn ${pub.bitrateIn}`);
  assert.equal(pub.metadata.width, 320);
  const clients = await json(`${base}/v1/clients`);
  const publisherClient = clients.find((c: { publishing: string[] }) => c.publishing.includes('cam'));
  assert.ok(publisherClient, JSON.stringify(clients));
  assert.ok(publisherClient.bytesIn > 10_000);
  assert.equal(publisherClient.app, '/live');

  // the dashboard: figures, the publication, and its player advancing
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  const context = await browser.newContext({ httpCredentials: { username: 'admin', password: PASSWORD }, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto(base + '/');
  assert.equal(response?.status(), 200);
  await page.waitForSelector('#publications td:text-is("cam")', { timeout: 15_000 });
  await page.waitForFunction("document.getElementById('t-publications').textContent === '1'", undefined, { timeout: 15_000 });
  await page.click('#publications tr:has(td:text-is("cam")) button:text-is("play")');
  // (page code as strings: the tests compile without the DOM library)
  const readTime = () => page.evaluate<number>("document.getElementById('player').currentTime");
  await page.waitForFunction("document.getElementById('player').currentTime > 1", undefined, { timeout: 30_000 });
  const t1 = await readTime();
  await new Promise((r) => setTimeout(r, 1500));
  const t2 = await readTime();
  assert.ok(t2 > t1 + 0.5, `the video advances (${t1} → ${t2})`);
  const size = await page.evaluate<number[]>("[document.getElementById('player').videoWidth, document.getElementById('player').videoHeight]");
  assert.deepEqual(size, [320, 240]);
  assert.match(await page.textContent('#player-info') ?? '', new RegExp(`Playing cam from ws://127\\.0\\.0\\.1:${ports.http}/live/cam\\.flv`));
  // the player is a WebSocket client of the server: the dashboard lists it, playing cam
  await page.waitForSelector('#clients tr:has(td:text-is("WebSocket")) td:text-is("cam")', { timeout: 15_000 });
  await page.waitForTimeout(2500); // one more refresh: bit rates of the player in the tiles and chart
  const shot = path.join(dir, 'dashboard.png');
  await page.screenshot({ path: shot });
  assert.ok(fs.statSync(shot).size > 20_000);
  if (process.env.MONATS_UPDATE_DOCS === '1') fs.copyFileSync(shot, path.join(__dirname, '..', '..', '..', 'docs', 'dashboard.png'));
  assert.deepEqual(errors, [], 'no script error in the page');

  // metrics over curl, read by a parser of the exposition format
  const metrics = await curl(['-H', `Authorization: Bearer ${PASSWORD}`, `${base}/metrics`]);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers, /Content-Type: text\/plain; version=0\.0\.4; charset=utf-8/i);
  const families = parsePrometheusText(metrics.body.toString());
  const sample = (name: string, labels: Record<string, string> = {}) =>
    families.get(name)?.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
  assert.equal(sample('monats_publications'), 1);
  assert.equal(sample('monats_connections', { protocol: 'RTMP' }), 1);
  assert.equal(sample('monats_connections', { protocol: 'WebSocket' }), 1, 'the dashboard player');
  assert.equal(sample('monats_publication_listeners', { publication: 'cam' }), 1);
  assert.ok(sample('monats_received_bytes_total', { protocol: 'RTMP' })! > 10_000);
  assert.ok(sample('monats_sent_bytes_total', { protocol: 'WebSocket' })! > 10_000);
  assert.ok(sample('process_resident_memory_bytes')! > 0);

  // kick the publisher with curl: ffmpeg loses its connection, the access log says why
  const kick = await curl(['-u', `admin:${PASSWORD}`, '-X', 'POST', `${base}/v1/clients/${publisherClient.id}/kick`]);
  assert.equal(kick.status, 200, kick.body.toString());
  const ended = await publisher.done;
  assert.notEqual(ended.code, 0, 'ffmpeg stopped with an error: its server hung up');
  await server.waitFor(/INFO   RTMP  127\.0\.0\.1:\d+ left \/live after .*: kicked by the administrator \(/);
  await server.waitFor(/INFO   RTMP  127\.0\.0\.1:\d+ stopped publishing cam after/);
  await waitUntil(() => /INFO   WebSocket  127\.0\.0\.1:\d+ plays cam/.test(server.output()));
  const after = await json(`${base}/v1/publications`);
  assert.equal(after.filter((p: { running: boolean }) => p.running).length, 0);
});
