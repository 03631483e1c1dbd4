/**
 * hls.js (the npm package's dist file, served by our server from the app folder) in Debian's
 * chromium through playwright-core, playing a live publication with `lowLatencyMode`, and the
 * latency it plays at: the publisher's clock against hls.js's `playingDate`.
 *
 * How the latency is measured: EXT-X-PROGRAM-DATE-TIME is the wall clock at which the server
 * received a segment's first frame, so `Date.now() - hls.playingDate` in the page is the time from
 * the server's ingest to the frame on screen. The publisher → server part is measured beside it,
 * on the same clock: ffmpeg publishes in real time (`-re`) from T0, so the frame of media time t
 * was made at T0 + t and the publication's newest frame time says how far behind the server
 * receives. Their sum is glass to glass (the publisher's frame made → the same frame playing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
];

/** The hls.js build the page loads (copied next to the page in the app folder). */
export function hlsjsFile(): Buffer {
  return fs.readFileSync(path.join(require.resolve('hls.js'), '..', 'hls.min.js'));
}

export const PLAYER_PAGE = `<!doctype html><video id="v" muted playsinline></video>
<script src="hls.min.js"></script><script>
window.errors = [];
window.start = function (src) {
  const video = document.getElementById('v');
  const hls = new Hls({ lowLatencyMode: true });
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.errors.push(d.type + ' ' + d.details); });
  hls.loadSource(src);
  hls.attachMedia(video);
  video.play().catch((e) => window.errors.push('play: ' + e.message));
};
window.sample = function () {
  const video = document.getElementById('v');
  const hls = window.hls;
  const date = hls.playingDate;
  return { now: Date.now(), playingDate: date ? date.getTime() : null, estimate: hls.latency, currentTime: video.currentTime,
    paused: video.paused, frames: video.getVideoPlaybackQuality().totalVideoFrames, width: video.videoWidth,
    level: hls.levels && hls.levels[hls.currentLevel] ? hls.levels[hls.currentLevel].codecSet : null, errors: window.errors };
};
</script>`;

export interface LatencySample {
  now: number;
  playingDate: number | null;
  estimate: number;
  currentTime: number;
  paused: boolean;
  frames: number;
  width: number;
  errors: string[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}
