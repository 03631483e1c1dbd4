/**
 * Quality of service counters (SPEC S3 QualityOfService): byte rate over a sliding second,
 * lost rate, latency, last sending time. Cheap to update per packet: no arrays, one bucket swap
 * per second.
 */
export class QualityOfService {
  /** bytes per second measured over the last complete second */
  byteRate = 0;
  /** share of packets lost (0..1) over the last complete second */
  lostRate = 0;
  /** ms between a packet's media time and its sending, as protocols measure it */
  latency = 0;
  /** Date.now() of the last packet sent/received */
  lastSendingTime = 0;
  droppedFrames = 0;
  /** bytes counted since this object was made (access log, admin API) */
  bytes = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private windowPackets = 0;
  private windowLost = 0;

  add(bytes: number, now = Date.now()): void {
    this.roll(now);
    this.windowBytes += bytes;
    this.bytes += bytes;
    this.windowPackets++;
    this.lastSendingTime = now;
  }

  lost(count = 1, now = Date.now()): void {
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

  drop(): void {
    this.droppedFrames++;
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
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < 1000) return;
    // a gap of several seconds means nothing flowed: rates fall to zero
    const complete = elapsed < 2000;
    this.byteRate = complete ? Math.round((this.windowBytes * 1000) / elapsed) : 0;
    this.lostRate = complete && this.windowPackets ? this.windowLost / this.windowPackets : 0;
    this.windowStart = now;
    this.windowBytes = this.windowPackets = this.windowLost = 0;
  }
}
