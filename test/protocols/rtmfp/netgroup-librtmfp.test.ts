/**
 * NetGroup (P2P multicast) with librtmfp's TestClient, our server as the only rendezvous: the
 * members join a group through the server, are introduced to each other, then reach each other
 * peer to peer and relay the stream among themselves.
 *  (a) one publisher and two players in one group: each player gets >= 150 frames of a 25 fps
 *      stream in 20 s;
 *  (b) three groups side by side (each its own picture size): each player gets its own group's
 *      stream;
 *  (c) a member leaves mid-stream and another joins: the server sees both, the newcomer meets
 *      the members still there (not the one gone), the stayer keeps playing and the newcomer
 *      gets the stream from there;
 *  (d) direct P2P (no group): a player reaches a publisher by its peer id through our rendezvous.
 * The files are made so TestClient publishes them in real time (see makeFlv) and are longer
 * than the runs: players are stopped after their time.
 * librtmfp hands its peers every interface address of the host and peers send to them, so the
 * whole run (server included) happens in a network namespace with only loopback up, created and
 * deleted here (root needed). Skipped with the reason when TestClient is not built (CI) or no
 * namespace can be made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { groupIdOfSpecifier } from '../../../src/protocols/rtmfp/group-message';
import { requireTool } from '../../helpers/http-server';
import { TESTCLIENT, countFrames, haveTestClient, loggedPeerId, makeFlv, startProc, stopProc, waitFor, type Proc } from '../../helpers/librtmfp';
import { createNetns, interfacesUp } from '../../helpers/netns';

const SERVER = path.join(__dirname, '..', '..', 'helpers', 'rtmfp-server.js');
const PORT = 1935; // the namespace is ours alone

/** A version 2 group specifier as AS3's GroupSpecifier.toString() writes it, named `name`. */
function groupSpec(name: string): string {
  const n = Buffer.from(name, 'latin1');
  return `G:027f0201010103010c${(n.length + 1).toString(16).padStart(2, '0')}0e${n.toString('hex')}011b00`;
}

function groupId(spec: string): string {
  return groupIdOfSpecifier(spec)!.toString('hex');
}

test('librtmfp TestClient NetGroup and P2P through our server, in a loopback-only network namespace', { timeout: 300_000 }, async (t) => {
  if (!haveTestClient(t) || !requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const ns = createNetns('monats-ng');
  if (typeof ns === 'string') {
    t.skip(`no network namespace for the P2P run: ${ns}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netgroup-'));
  const procs: Proc[] = [];
  let server: Proc | null = null;
  const run = (args: string[]): Proc => {
    const p = startProc(TESTCLIENT, args, dir, ns);
    procs.push(p);
    return p;
  };
  const url = (stream: string) => `--url=rtmfp://127.0.0.1:${PORT}/live/${stream}`;
  const publisher = (stream: string, spec: string, media: string) => run([url(stream), '--write', `--mediaFile=${media}`, `--netGroup=${spec}`]);
  const player = (stream: string, spec: string, out: string) => run([url(stream), `--mediaFile=${path.join(dir, out)}`, `--netGroup=${spec}`]);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** players play until `ms` after `since`, then players and publishers stop (SIGINT: clean close) */
  const playUntil = async (since: number, ms: number, players: Proc[], pubs: Proc[]) => {
    await sleep(Math.max(0, since + ms - Date.now()));
    for (const p of [...players, ...pubs]) assert.equal(p.p.exitCode, null, `a TestClient ended early:\n${p.out.slice(-1500)}`);
    await Promise.all(players.map((p) => stopProc(p)));
    await Promise.all(pubs.map((p) => stopProc(p)));
  };
  try {
    assert.deepEqual(interfacesUp(ns), ['lo'], 'only loopback in the namespace');
    const media = path.join(dir, 'in.flv');
    makeFlv(media, 60, '320x240', true);
    server = startProc(process.execPath, [SERVER, String(PORT), '4'], dir, ns);
    await waitFor(server, /RTMFP test server on 127\.0\.0\.1:1935/);

    await t.test('(a) one publisher, two players in one group: >= 150 frames each', async () => {
      const spec = groupSpec('alpha');
      const pub = publisher('a', spec, media);
      await sleep(1000);
      const players = [player('a', spec, 'a1.flv'), player('a', spec, 'a2.flv')];
      await playUntil(Date.now(), 20_000, players, [pub]);
      const gid = groupId(spec);
      for (const p of [pub, ...players]) assert.match(server!.out, new RegExp(`join ${gid} ${loggedPeerId(p)}`));
      for (const [i, p] of players.entries()) {
        assert.match(p.out, /Peers connected to group alpha : [1-9]/);
        const frames = countFrames(path.join(dir, `a${i + 1}.flv`));
        t.diagnostic(`(a) player ${i + 1}: ${JSON.stringify(frames)}`);
        assert.ok(frames.h264 >= 150, `player ${i + 1} video frames ${JSON.stringify(frames)}`);
      }
    });

    await t.test('(b) three groups side by side, each player gets its own group stream', async () => {
      const sizes = ['320x240', '352x288', '176x144'];
      const groups = sizes.map((size, i) => {
        const file = path.join(dir, `b${i}.flv`);
        makeFlv(file, 60, size, true);
        return { spec: groupSpec(`grp${i}`), file, width: Number(size.split('x')[0]) };
      });
      const pubs = groups.map((g, i) => publisher(`b${i}`, g.spec, g.file));
      await sleep(1000);
      const players = groups.map((g, i) => player(`b${i}`, g.spec, `b${i}-out.flv`));
      await playUntil(Date.now(), 20_000, players, pubs);
      for (const [i, g] of groups.entries()) {
        assert.match(server!.out, new RegExp(`join ${groupId(g.spec)} ${loggedPeerId(players[i])} 2`));
        const frames = countFrames(path.join(dir, `b${i}-out.flv`));
        t.diagnostic(`(b) group ${i}: ${JSON.stringify(frames)}`);
        assert.equal(frames.width, g.width, `group ${i} player got its own group's stream`);
        assert.ok(frames.h264 >= 150, `group ${i} video frames ${JSON.stringify(frames)}`);
      }
    });

    await t.test('(c) a member leaves and another joins mid-stream', async () => {
      const spec = groupSpec('gamma');
      const gid = groupId(spec);
      const pub = publisher('c', spec, media);
      await sleep(1000);
      const stayer = player('c', spec, 'c-stayer.flv');
      const leaver = player('c', spec, 'c-leaver.flv');
      await waitFor(leaver, /Peers connected to group gamma : [1-9]/, 20_000);
      await sleep(2000);
      const leaverId = loggedPeerId(leaver);
      await stopProc(leaver);
      await waitFor(server!, new RegExp(`unjoin ${gid} ${leaverId}`), 10_000);
      const joiner = player('c', spec, 'c-joiner.flv');
      await waitFor(joiner, /Peer ID : \s*[0-9a-f]{64}/, 10_000);
      const joined = Date.now();
      await waitFor(server!, new RegExp(`join ${gid} ${loggedPeerId(joiner)} 3`), 10_000);
      // the newcomer is sent to the members still there
      for (const member of [pub, stayer]) await waitFor(joiner, new RegExp(`P2PSession is now connected to ${loggedPeerId(member)}`), 10_000);
      await playUntil(joined, 20_000, [stayer, joiner], [pub]);
      const stayed = countFrames(path.join(dir, 'c-stayer.flv'));
      const got = countFrames(path.join(dir, 'c-joiner.flv'));
      t.diagnostic(`(c) stayer ${JSON.stringify(stayed)} joiner ${JSON.stringify(got)}`);
      assert.ok(stayed.h264 >= 150, `stayer video frames ${JSON.stringify(stayed)}`);
      assert.ok(got.h264 >= 150, `joiner video frames ${JSON.stringify(got)}`);
    });

    await t.test('(d) direct P2P: a player reaches the publisher by its peer id', async () => {
      const pub = run([url('d'), '--p2pWrite', `--mediaFile=${media}`]);
      await waitFor(pub, /Peer ID : \s*[0-9a-f]{64}/, 10_000);
      const p = run([url('d'), `--peerId=${loggedPeerId(pub)}`, `--mediaFile=${path.join(dir, 'd.flv')}`]);
      await waitFor(p, new RegExp(`P2PSession is now connected to ${loggedPeerId(pub)}`), 10_000);
      await waitFor(p, /NetStream\.Play\.Start/, 10_000);
      await playUntil(Date.now(), 15_000, [p], [pub]);
      const frames = countFrames(path.join(dir, 'd.flv'));
      t.diagnostic(`(d) player: ${JSON.stringify(frames)}`);
      assert.ok(frames.h264 >= 150, `video frames ${JSON.stringify(frames)}`);
    });
  } finally {
    await Promise.all(procs.map((p) => stopProc(p, 'SIGKILL')));
    if (server) await stopProc(server, 'SIGTERM');
    ns.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
