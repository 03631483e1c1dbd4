/**
 * RTMPE handshakes are rate-limited per IP (`[RTMP] rtmpeRate`): a peer replaying one signed
 * C0+C1 on many connections gets a handful of answers and then closed connections, before any
 * Diffie-Hellman work; another IP (rtmpdump over rtmpe://) is served meanwhile. The limiter's token
 * bucket: bursts of twice the rate, refilled over time, one bucket per canonical IP, bounded size.
 * The campaign's two RTMPE attacks (test/helpers/attacks.ts) run against the real executable: the
 * replay from one IP, and a flood from 100 IPs, while a healthy client is timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { HandshakeLimiter } from '../../../src/transport/handshake-limiter';
import { rtmpeFloodIPs, rtmpeHello, rtmpeReplay, tryHandshake } from '../../helpers/attacks';
import { attackTest } from '../../helpers/attack-test';
import { decodedVideoFrames, needTool, run, startRTMP, testFLV, waitFor, type ToolRun } from './helpers';

test('token bucket: bursts of twice the rate, refill over time, one bucket per canonical IP, 0 = no limit', () => {
  let rate = 5;
  const l = new HandshakeLimiter(() => rate, 4);
  const t0 = 1_000_000;
  let allowed = 0;
  for (let i = 0; i < 30; i++) if (l.allow('10.0.0.1:1000', t0)) allowed++;
  assert.equal(allowed, 10, 'a burst of twice the rate');
  assert.equal(l.allow('[::ffff:10.0.0.1]:2000', t0), false, 'the same IP written another way shares the bucket');
  assert.equal(l.allow('10.0.0.2:1000', t0), true, 'another IP has its own');
  assert.equal(l.allow('10.0.0.1:1000', t0 + 100), false, 'half a token after 100 ms');
  assert.equal(l.allow('10.0.0.1:1000', t0 + 200), true, 'one token after 200 ms at 5/s');
  allowed = 0;
  for (let i = 0; i < 30; i++) if (l.allow('10.0.0.1:1000', t0 + 60_000)) allowed++;
  assert.equal(allowed, 10, 'never more than the burst, however long it waited');
  for (let i = 3; i < 40; i++) l.allow(`10.0.1.${i}:1`, t0 + 60_000);
  assert.ok(l.size <= 4, `at most 4 IPs tracked (${l.size})`);
  rate = 0;
  for (let i = 0; i < 100; i++) assert.equal(l.allow('10.0.0.1:1000', t0 + 60_000), true);
});

test('one signed RTMPE C0+C1 replayed on 60 connections from one IP: a burst is answered, the rest closed; rtmpdump rtmpe:// from another IP plays', { timeout: 90_000 }, async (t) => {
  const s = await startRTMP();
  s.context.config.rtmp.rtmpeRate = 5;
  const runs: ToolRun[] = [];
  try {
    const hello = rtmpeHello();
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 60 }, () => tryHandshake(s.port, '127.0.0.2', hello)));
    const seconds = (Date.now() - started) / 1000;
    const answered = results.filter(Boolean).length;
    t.diagnostic(`${answered} of 60 replayed RTMPE handshakes answered in ${seconds.toFixed(2)} s`);
    assert.ok(answered >= 10, `the burst is served (${answered})`);
    assert.ok(answered <= 10 + Math.ceil(5 * seconds) + 1, `${answered} answered in ${seconds.toFixed(2)} s at 5/s with bursts of 10`);
    // a plain or digest handshake from the same IP costs no DH: never limited
    const plain = Buffer.from(hello);
    plain[0] = 3;
    assert.equal(await tryHandshake(s.port, '127.0.0.2', plain), true);

    if (!needTool(t, 'ffmpeg') || !needTool(t, 'rtmpdump') || !needTool(t, 'ffprobe')) return;
    const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', s.url('live/enc')], 40_000);
    runs.push(pub);
    await waitFor(() => s.context.publications.get('enc')?.running === true, 15_000, 'publication enc');
    const out = path.join(s.dir, 'rtmpe.flv');
    const dump = run('rtmpdump', ['-q', '-r', s.url('live/enc', 'rtmpe'), '-o', out, '--stop', '3'], 40_000);
    runs.push(dump);
    const d = await dump.done;
    assert.ok(d.code === 0 || d.code === 2, `rtmpdump rtmpe (exit ${d.code}): ${d.stderr}`);
    assert.ok(decodedVideoFrames(out) > 10, 'rtmpdump over RTMPE got video from the server');
  } finally {
    for (const r of runs) r.kill();
    await s.stop();
  }
});

attackTest(rtmpeReplay, (o) => assert.ok(o.answered >= 10, `the burst is served (${o.answered})`));

attackTest(rtmpeFloodIPs);
