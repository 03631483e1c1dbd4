/**
 * One case of the hardening campaign (attacks.ts) as a test: the real server in a child process
 * stays up, its RSS grows less than the case's bound, the healthy client (static file, RPC, RTMP
 * play) is answered within LATENCY_BOUND_MS all along, and the case's own check holds; then
 * `check` looks at the attack's outcome in detail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_BOUND_MS } from './attack-kit';
import { runCase, type AttackCase, type CaseResult, type Outcome } from './attacks';

export function attackTest<O extends Outcome>(c: AttackCase<O>, check?: (outcome: O, result: CaseResult<O>) => void): void {
  const bounds = c.killsServer ? `RSS +<${c.memoryBoundMB ?? 150} MB` : `server up, RSS +<${c.memoryBoundMB ?? 150} MB, healthy client within ${LATENCY_BOUND_MS} ms`;
  test(`attack ${c.name}: ${c.title} (${bounds})`, { timeout: c.timeoutMs }, async (t) => {
    const r = await runCase(c);
    t.diagnostic(
      `${r.outcome.summary}; RSS +${r.peakMB.toFixed(1)} MB; healthy client worst ${r.health.worst} ms (file ${r.health.file}, RPC ${r.health.rpc}, RTMP ${r.health.rtmp}, ${r.health.rounds} rounds, ${r.health.frames} frames); server CPU ${r.cpuSeconds.toFixed(1)} s`,
    );
    assert.deepEqual(r.problems, [], `${c.name}: ${r.outcome.summary}`);
    check?.(r.outcome, r);
  });
}
