/**
 * Quality of service counters (`QualityOfService` in scripts, the admin API): byte rate over a
 * sliding second, lost rate, latency, last sending time, dropped frames. Cheap to update per
 * packet: no arrays, one bucket swap per second.
 *
 * What feeds them: a publication's counters hear every frame its publisher sends, with the
 * publisher's ping as the latency sample (a script's `pushVideo(time, packet, ping)` gives its own)
 * and the messages its transport lost before a frame (RTMFP's abandoned fragments); a listener's
 * hear every frame delivered to its client, with that client's ping, and count the frames the
 * server dropped for it (congestion) as lost.
 */
export class QualityOfService {
  /** bytes per second measured over the last complete second */
  byteRate = 0;
  /** share of packets lost (0..1) over the last complete second */
  lostRate = 0;
  /** ms: the mean of the latency samples (pings) of the last complete second that had any */
  latency = 0;
  /** Date.now() of the last packet sent/received */
  lastSendingTime = 0;
  /** frames dropped (a listener too slow for them, audio or video) */
  droppedFrames = 0;
  /** bytes counted since this object was made (access log, admin API) */
  bytes = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private windowPackets = 0;
  private windowLost = 0;
  private windowLatency = 0;
  private windowLatencies = 0;

  /** One packet of `bytes`; `latency` (ms, 0 = unknown) is a latency sample for it. */
  add(bytes: number, now = Date.now(), latency = 0): void {
    this.roll(now);
    this.windowBytes += bytes;
    this.bytes += bytes;
    this.windowPackets++;
    this.lastSendingTime = now;
    if (latency > 0) {
      this.windowLatency += latency;
      this.windowLatencies++;
      // the first sample shows at once rather than after a whole second
      if (this.latency === 0) this.latency = latency;
    }
  }

  /** `count` packets that never arrived (or were never sent). */
  lost(count = 1, now = Date.now()): void {
    if (count <= 0) return;
    this.roll(now);
    this.windowLost += count;
    this.windowPackets += count;
  }

  /**
   * byteRate as of `now`: 0 once a whole window has passed without a packet (byteRate itself is
   * only brought up to date by the next packet, so a stopped flow would otherwise show its last rate).
   */
  byteRateAt(now = Date.now()): number {
    return now - this.windowStart >= 2000 ? 0 : this.byteRate;
  }

  /** A frame the server dropped (counted, and lost for lostRate). */
  drop(now = Date.now()): void {
    this.droppedFrames++;
    this.lost(1, now);
  }

  /** [byte rate now, lost rate, latency, last sending time, dropped frames, bytes]: for assign() elsewhere */
  snapshot(now = Date.now()): number[] {
    return [this.byteRateAt(now), this.lostRate, this.latency, this.lastSendingTime, this.droppedFrames, this.bytes];
  }

  /**
   * Figures measured elsewhere (the workers of `threads` measure their publications and players;
   * the primary's images show them), in snapshot()'s order, valid for the next two seconds.
   */
  assign(values: readonly number[], now = Date.now()): void {
    [this.byteRate, this.lostRate, this.latency, this.lastSendingTime, this.droppedFrames, this.bytes] = values.map((v) => (Number.isFinite(v) ? v : 0));
    this.windowStart = now;
    this.windowBytes = this.windowPackets = this.windowLost = 0;
    this.windowLatency = this.windowLatencies = 0;
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < 1000) return;
    // a gap of several seconds means nothing flowed: rates fall to zero (latency keeps its last value)
    const complete = elapsed < 2000;
    this.byteRate = complete ? Math.round((this.windowBytes * 1000) / elapsed) : 0;
    this.lostRate = complete && this.windowPackets ? this.windowLost / this.windowPackets : 0;
    if (complete && this.windowLatencies) this.latency = Math.round(this.windowLatency / this.windowLatencies);
    this.windowStart = now;
    this.windowBytes = this.windowPackets = this.windowLost = 0;
    this.windowLatency = this.windowLatencies = 0;
  }
}
