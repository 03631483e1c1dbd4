/**
 * A peer that sends messages in 1-byte chunks on many chunk streams and never finishes them must
 * cost the server bounded memory, in bytes and in pieces, while a healthy client (static file, RPC,
 * RTMP play) is served (before, every 1-byte chunk body was kept as its own Buffer view: +150 MB
 * for 1.6 MB of payload). The real server runs in a child process (its RSS read from /proc); the
 * attacker stops early once the server's RSS grew past the bound, so the test stays bounded in time
 * and memory whatever the server does. The attack is the campaign's (test/helpers/attacks.ts).
 */
import assert from 'node:assert/strict';
import { rtmpChunks } from '../../helpers/attacks';
import { attackTest } from '../../helpers/attack-test';

attackTest(rtmpChunks, (o) => assert.ok(o.sentMB >= 8 || o.cutOff, `the attacker sent everything (${o.sentMB.toFixed(1)} MB) or was cut off`));
