/**
 * HLS test helpers: an in-process server (HTTP + RTMP on one context), ffmpeg publishing a
 * generated test source in real time over RTMP, and HTTP GETs with timing.
 */
import type { TestContext } from 'node:test';
import type { AppHost } from '../../../src/core/app-host';
import type { ServerContext } from '../../../src/core/context';
import { startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { run, waitFor, type ToolRun } from '../rtmp/helpers';

export async function hlsServer(
  t: TestContext,
  opts: { files?: Record<string, string | Buffer | null>; host?: (ctx: ServerContext) => AppHost; overrides?: Record<string, string> } = {},
): Promise<HTTPTestServer> {
  const s = await startHTTP({ dir: tempWWW({ 'live/readme.txt': 'live app', ...opts.files }), rtmp: true, host: opts.host, overrides: opts.overrides });
  t.after(() => s.stop());
  return s;
}

/**
 * ffmpeg encoding a test source (320x240 25 fps H.264, one key frame a second, 440 Hz AAC) in real
 * time to rtmp://…/live/<name>, for `seconds`; killed at the end of the test.
 */
export async function publishTestSource(t: TestContext, s: HTTPTestServer, name: string, seconds = 120, extra: string[] = []): Promise<ToolRun> {
  const pub = run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    ...extra,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmpPort}/live/${name}`,
  ], (seconds + 30) * 1000);
  t.after(() => pub.kill());
  await waitFor(() => s.context.publications.get(name)?.running === true && s.context.publications.get(name)!.hasVideo, 15_000, `publication ${name}`);
  return pub;
}

export interface Got {
  status: number;
  headers: Headers;
  text: string;
  body: Buffer;
  ms: number;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Got> {
  const t0 = performance.now();
  const r = await fetch(url, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, text: body.toString('utf8'), body, ms: performance.now() - t0 };
}
