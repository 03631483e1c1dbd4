/**
 * Server CPU per handshake, run by hand: `npx tsc -p . && node dist/bench/rtmpe-handshake.js [n]`.
 * answerHandshake() on the same signed C0+C1 again and again (what a replaying attacker costs):
 * plain, digest and RTMPE (Diffie-Hellman 1024 + RC4 keys). CPU time from process.cpuUsage, median
 * of 5 rounds of n handshakes (default 200); the peer column is Node's classic DH on the same
 * group (getDiffieHellman + generateKeys + computeSecret) measured in the same run.
 */
import { getDiffieHellman, randomBytes } from 'node:crypto';
import { clientHello } from '../src/protocols/rtmp/client';
import { answerHandshake } from '../src/protocols/rtmp/handshake';
import { DH_KEY_SIZE, FP_KEY_SHORT, LAYOUTS, SIG_SIZE, signPacket } from '../src/protocols/rtmp/handshake-crypto';

const n = Number(process.argv[2] ?? 200);

/** C0+C1 of an RTMPE client: version 9.0.124.2, a DH public key, signed in layout 0. */
function rtmpeHello(): Buffer {
  const c1 = randomBytes(SIG_SIZE);
  Buffer.from([9, 0, 124, 2]).copy(c1, 4);
  const dh = getDiffieHellman('modp2');
  dh.generateKeys();
  const pub = dh.getPublicKey();
  pub.copy(c1, LAYOUTS[0].dhOffset(c1) + DH_KEY_SIZE - pub.length);
  signPacket(c1, LAYOUTS[0], FP_KEY_SHORT);
  return Buffer.concat([Buffer.from([6]), c1]);
}

function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000 / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function row(name: string, fn: () => void): void {
  fn(); // warm-up
  const rounds = Array.from({ length: 5 }, () => cpuMs(fn));
  const ms = median(rounds);
  console.log(`${name.padEnd(34)} ${ms.toFixed(3).padStart(8)} ms CPU   ${Math.round(1000 / ms).toString().padStart(7)} per second of one core`);
}

const plain = clientHello(false);
const digest = clientHello(true);
const rtmpe = rtmpeHello();
console.log(`answerHandshake, ${n} per round, median of 5 rounds`);
row('plain', () => answerHandshake(plain));
row('digest', () => answerHandshake(digest));
row('RTMPE (the same C0C1 replayed)', () => answerHandshake(rtmpe));
row('peer: classic DH modp2 (keys+secret)', () => {
  const dh = getDiffieHellman('modp2');
  dh.generateKeys();
  dh.computeSecret(rtmpe.subarray(1 + LAYOUTS[0].dhOffset(rtmpe.subarray(1)), 1 + LAYOUTS[0].dhOffset(rtmpe.subarray(1)) + DH_KEY_SIZE));
});
