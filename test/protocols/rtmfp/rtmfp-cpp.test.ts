/**
 * Interoperability with a strict RTMFP implementation nobody here wrote: the rtmfp-cpp samples
 * (MIT; `tcpublish`, `tcconn`), built outside the repo (docs/rtmfp.md). By default they require
 * HMAC packet verification and session sequence numbers (RFC 7425) in both directions, which
 * MonaServer refuses: their handshake with it fails. Here they publish and play through our server
 * with both options on, and with them off (-H -S) get Flash's exchange.
 * Looked for at $RTMFP_CPP_DIR or ext/rtmfp-cpp/test beside the repo or one of its parents; the
 * test is skipped when absent (CI does not build it).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FLASH_PROTECTION, OUR_HMAC_LENGTH } from '../../../src/protocols/rtmfp/session-crypto';
import { requireTool } from '../../helpers/http-server';
import { makeFlv, startProc, stopProc, waitFor, type Proc } from '../../helpers/librtmfp';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';

function findSamples(): string {
  if (process.env.RTMFP_CPP_DIR) return process.env.RTMFP_CPP_DIR;
  const repo = path.join(__dirname, '..', '..', '..', '..');
  for (let dir = path.dirname(repo); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'ext', 'rtmfp-cpp', 'test');
    if (fs.existsSync(path.join(candidate, 'tcpublish'))) return candidate;
    if (path.dirname(dir) === dir) return path.join(repo, '..', 'ext', 'rtmfp-cpp', 'test');
  }
}

const SAMPLES = findSamples();

function haveSamples(t: TestContext): boolean {
  if (fs.existsSync(path.join(SAMPLES, 'tcpublish')) && fs.existsSync(path.join(SAMPLES, 'tcconn'))) return true;
  t.skip(`rtmfp-cpp samples not built (${SAMPLES}): see docs/rtmfp.md to build them`);
  return false;
}

for (const strict of [true, false]) {
  test(`rtmfp-cpp tcpublish → tcconn through our server, ${strict ? 'HMAC and sequence numbers required (their default)' : 'options off (-H -S): Flash exchange'}`, { timeout: 60_000 }, async (t) => {
    if (!haveSamples(t) || !requireTool(t, 'ffmpeg')) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmfp-cpp-'));
    const srv = await startRtmfpTestServer();
    const procs: Proc[] = [];
    try {
      const media = path.join(dir, 'in.flv');
      makeFlv(media, 5);
      const flags = ['-4', ...(strict ? [] : ['-H', '-S'])];
      const url = `rtmfp://127.0.0.1:${srv.port}/live#cam`;
      const player = startProc(path.join(SAMPLES, 'tcconn'), [...flags, url], dir);
      procs.push(player);
      await waitFor(player, /stream onStatus[\s\S]*NetStream\.Play/, 10_000);
      const publisher = startProc(path.join(SAMPLES, 'tcpublish'), [...flags, url, media], dir);
      procs.push(publisher);
      await waitFor(publisher, /NetStream\.Publish\.Start/, 10_000);
      const expected = strict ? { sendHmac: OUR_HMAC_LENGTH, recvHmac: 16, sendSeq: true, recvSeq: true } : FLASH_PROTECTION;
      for (const s of srv.server.sessions.values()) assert.deepEqual(s.crypto.protection, expected);
      assert.equal(srv.server.sessions.size, 2);
      // tcpublish sends in real time: 5 s of 25 fps
      await new Promise((r) => setTimeout(r, 6500));
      await stopProc(publisher);
      await new Promise((r) => setTimeout(r, 300));
      await stopProc(player);
      const videos = player.out.match(/stream onVideo/g)?.length ?? 0;
      t.diagnostic(`tcconn received ${videos} video messages`);
      assert.ok(videos >= 100, `${videos} video messages\n${player.out.slice(-800)}`);
      assert.equal(srv.server.dropped, 0, 'every datagram authenticated');
    } finally {
      await Promise.all(procs.map((p) => stopProc(p, 'SIGKILL')));
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
