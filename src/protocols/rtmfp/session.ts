/**
 * One RTMFP session on the server side (RFC 7016 section 3.5): decrypts its datagrams, follows the
 * peer to a new address once that address answered a probe and ignores replays (mobility), measures the round trip from timestamp echoes, answers pings, sends
 * keepalives, dispatches user data to receiving flows and acknowledgements to sending flows, and
 * packs outgoing chunks into packets under one congestion window (retransmission with back-off).
 */
import { randomBytes } from 'node:crypto';
import { Reader, option, vlu } from './binary';
import { EPD_PEER_ID, encodeAddress } from './handshake-chunks';
import { IncomingFlow, type ReceiveBudget } from './flow';
import { FlowSender, type Fragment } from './flow-writer';
import { CHUNK, FLAG_TCR, FLAG_TS, MODE_INITIATOR, MODE_RESPONDER, PacketBuilder, nowTimestamp, parsePacket, type Chunk } from './packet';
import type { SessionCrypto } from './session-crypto';
import { parseUserData, type UserData } from './user-data';

/** What a session needs from its server (socket, registry, logs) and its application layer. */
export interface SessionHost {
  send(datagram: Buffer, address: string): void;
  /** the session ended: forget it */
  removed(session: Session): void;
  debug(message: string): void;
  /** our own failures (a bug, not the peer's doing) */
  error(message: string): void;
  /** keepalive period (ms) towards the client (config.rtmfp.keepaliveServer) */
  readonly keepaliveMs: number;
}

/** Called for every complete message of a receiving flow, and when a new flow appears. */
export interface SessionHandler {
  onFlow(flow: IncomingFlow): boolean;
  onMessage(flow: IncomingFlow, message: Buffer): void;
  onAddressChanged(oldAddress: string): void;
  /** the peer finished a flow (its final fragment and everything before it arrived) */
  onFlowEnd?(flow: IncomingFlow): void;
  onClosed(): void;
  /** a forwarded IHello reached us (only clients act on it) */
  onForwardedHello?(data: Buffer): void;
}

/** bytes of out-of-order/partial input a session may hold */
const RECEIVE_BUDGET = 4 * 1024 * 1024;
const MIN_RTO = 250;
const MAX_RTO = 10_000;
/** a reliable fragment sent this many times without acknowledgement ends the session */
const MAX_SENDS = 12;
const INITIAL_CWND = 64 * 1024;
const MAX_CWND = 4 * 1024 * 1024;
const MSS = 1150;
/** at most this many flows a peer may open (bounded memory per session) */
const MAX_FLOWS = 256;
const CLOSE_RETRIES = 5;
/** address origin "public" in address lists (RFC 7016 2.3.5) */
const ADDRESS_PUBLIC_ORIGIN = 2;
/** first byte of our mobility probe pings (then an 8-byte token) */
const PROBE_MARK = 0x6d;
const PROBE_MARK_BYTE = Buffer.from([PROBE_MARK]);
/** at most this many addresses probed at once, each at most every PROBE_INTERVAL ms */
const MAX_PROBES = 4;
const PROBE_INTERVAL = 500;
const PROBE_LIFETIME = 10_000;
/** past this long without timestamps from the peer, their order cannot be told any more */
const TIMESTAMP_MEMORY = 60_000;

interface Probe {
  token: Buffer;
  sentAt: number;
}

/** where a packet's timestamp stands against the newest one received */
type TimestampOrder = 'older' | 'same' | 'newer' | 'unknown';

export class Session {
  private readonly flows = new Map<number, IncomingFlow>();
  /** flows the peer finished, with their last acknowledgement (bounded) */
  private readonly finished = new Map<number, Buffer>();
  private readonly senders = new Map<number, FlowSender>();
  private nextSenderId = 2;
  private readonly budget: ReceiveBudget = { used: 0, limit: RECEIVE_BUDGET };
  private readonly control: Chunk[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** peer timestamp and when we got it, for the echo */
  private peerTimestamp = -1;
  private peerTimestampAt = 0;
  /** smoothed round trip (ms) and its variation */
  srtt = 0;
  private rttvar = 0;
  /** congestion window (bytes in flight), for benches and tests to read */
  cwnd = INITIAL_CWND;
  private lastLossEvent = 0;
  private ssthresh = MAX_CWND;
  lastReception = Date.now();
  private lastKeepalive = 0;
  private keepalivesUnanswered = 0;
  closed = false;
  /** why the session ended, for the disconnection's log line */
  closeReason = '';
  private closeSends = 0;
  handler: SessionHandler | null = null;
  /** no packet for this long ends the session (0 = only the keepalive rule); onConnection's `timeout` */
  idleTimeoutMs = 0;
  /** bytes sent, for benches and QoS */
  bytesSent = 0;
  /** bytes of the datagrams that authenticated as this session's (the client's bytes in) */
  bytesReceived = 0;
  /** abandon chunks sent for late unreliable fragments (partial reliability at work; tests read it) */
  abandons = 0;
  /** authenticated packets from another address ignored as replays (older than the newest seen) */
  replays = 0;
  /** return routability probes waiting for their echo, by the address probed */
  private readonly probes = new Map<string, Probe>();
  /** probes sent (tests and logs) */
  probesSent = 0;

  constructor(
    readonly id: number,
    readonly farId: number,
    /** packet protection: keys and the negotiated HMAC / sequence number options */
    readonly crypto: SessionCrypto,
    public address: string,
    readonly peerId: Buffer,
    private readonly host: SessionHost,
    /** the server is the responder; our test client runs the same session code as initiator */
    readonly role: 'responder' | 'initiator' = 'responder',
    /** false: packets carry no timestamp (RFC 7016 allows it; MonaServer 1 chokes on it) */
    private readonly timestamps = true,
  ) {
    this.createdFrom = address;
  }

  /** the address of the handshake (per-address accounting survives mobility) */
  readonly createdFrom: string;

  get ping(): number {
    return Math.round(this.srtt);
  }

  /** A datagram addressed to our session id. Returns false when it did not authenticate. */
  receive(datagram: Buffer, address: string): boolean {
    if (this.closed && this.closeSends === 0) return false;
    const plain = this.crypto.decrypt(datagram);
    if (!plain) return false;
    const packet = parsePacket(plain);
    if (packet.mode !== (this.role === 'responder' ? MODE_INITIATOR : MODE_RESPONDER)) return false;
    const now = Date.now();
    const order = this.timestampOrder(packet.timestamp, now);
    const elsewhere = address !== this.address;
    if (elsewhere && order === 'older') {
      // a copy of something the peer sent before (a replay, or a straggler from a path it left):
      // it proves nothing about the new address and is not processed again
      this.replays++;
      return true;
    }
    this.bytesReceived += datagram.length;
    this.lastReception = now;
    this.keepalivesUnanswered = 0;
    // RFC 7016 3.5.4.2: the session moves only once the new address answers a probe; the packet
    // itself is processed, our traffic keeps going to the address the peer proved it holds
    if (elsewhere) this.probe(address, now);
    if (packet.timestamp >= 0 && order !== 'older') {
      this.peerTimestamp = packet.timestamp;
      this.peerTimestampAt = now;
    }
    if (packet.echo >= 0 && order !== 'older') this.measureRtt(((nowTimestamp(now) - packet.echo) & 0xffff) * 4);
    const touched = new Set<IncomingFlow>();
    let previous: UserData | undefined;
    for (const chunk of packet.chunks) {
      if (chunk.type !== CHUNK.NextUserData && chunk.type !== CHUNK.UserData) previous = undefined;
      // a closing session only listens for the close handshake
      if (this.closed && chunk.type !== CHUNK.CloseAck && chunk.type !== CHUNK.CloseRequest) continue;
      switch (chunk.type) {
        case CHUNK.UserData:
        case CHUNK.NextUserData:
          previous = parseUserData(chunk.data, chunk.type === CHUNK.NextUserData, previous);
          this.onUserData(previous, touched);
          break;
        case CHUNK.RangeAck:
          this.onRangeAck(chunk.data);
          break;
        case CHUNK.BitmapAck:
          this.onBitmapAck(chunk.data);
          break;
        case CHUNK.BufferProbe: {
          const flow = this.flows.get(new Reader(chunk.data).vlu());
          if (flow) touched.add(flow);
          break;
        }
        case CHUNK.Ping:
          this.control.push({ type: CHUNK.PingReply, data: chunk.data });
          break;
        case CHUNK.PingReply:
          // any authenticated packet already counts as alive; a reply may complete a move
          this.onPingReply(chunk.data, address, order);
          break;
        case CHUNK.FwdIHello:
          this.handler?.onForwardedHello?.(chunk.data);
          break;
        case CHUNK.FlowException: {
          // the peer refuses one of our flows: it is dropped, its writer goes quiet
          const sender = this.senders.get(new Reader(chunk.data).vlu());
          if (sender) {
            sender.reject();
            this.senders.delete(sender.id);
          }
          break;
        }
        case CHUNK.CloseRequest:
          this.control.push({ type: CHUNK.CloseAck, data: Buffer.alloc(0) });
          this.flushNow();
          this.terminate();
          return true;
        case CHUNK.CloseAck:
          this.terminate();
          return true;
        default:
          this.host.debug(`RTMFP session ${this.id}: chunk 0x${chunk.type.toString(16)} ignored`);
      }
      if (this.closed) return true;
    }
    for (const flow of touched) {
      this.control.push({ type: CHUNK.RangeAck, data: flow.ack() });
      if (flow.complete) {
        flow.release();
        this.flows.delete(flow.id);
        // remember it ended: a late retransmission is acknowledged, not taken for a new flow
        if (this.finished.size >= MAX_FLOWS) this.finished.delete(this.finished.keys().next().value as number);
        this.finished.set(flow.id, flow.ack());
        this.handler?.onFlowEnd?.(flow);
      }
    }
    this.flushNow();
    return true;
  }

  private onUserData(ud: UserData, touched: Set<IncomingFlow>): void {
    let flow = this.flows.get(ud.flowId);
    if (!flow) {
      const lastAck = this.finished.get(ud.flowId);
      if (lastAck) {
        this.control.push({ type: CHUNK.RangeAck, data: lastAck });
        return;
      }
      if (!ud.metadata || this.flows.size >= MAX_FLOWS) {
        // unknown flow without its opening options: tell the sender it is rejected
        this.rejectFlow(ud.flowId);
        return;
      }
      flow = new IncomingFlow(ud.flowId, ud.metadata, ud.associatedFlow, this.budget, (m, f) => this.handler?.onMessage(f, m));
      if (!this.handler || !this.handler.onFlow(flow)) {
        this.rejectFlow(ud.flowId);
        return;
      }
      this.flows.set(ud.flowId, flow);
    }
    flow.receive(ud);
    touched.add(flow);
  }

  /**
   * A packet's 16-bit timestamp (4 ms ticks, wrapping) against the newest one received: the
   * peer's clock only moves forward, so an older one is a copy of something it sent before.
   */
  private timestampOrder(ts: number, now: number): TimestampOrder {
    if (ts < 0 || this.peerTimestamp < 0 || now - this.peerTimestampAt > TIMESTAMP_MEMORY) return 'unknown';
    const d = (ts - this.peerTimestamp) & 0xffff;
    return d === 0 ? 'same' : d < 0x8000 ? 'newer' : 'older';
  }

  /** Sends a ping with a fresh token to `address` (return routability check), rate limited. */
  private probe(address: string, now: number): void {
    const pending = this.probes.get(address);
    if (pending && now - pending.sentAt < PROBE_INTERVAL) return;
    if (!pending && this.probes.size >= MAX_PROBES) this.probes.delete(this.probes.keys().next().value as string);
    const token = randomBytes(8);
    this.probes.set(address, { token, sentAt: now });
    const b = this.newBuilder(now);
    b.addChunk(CHUNK.Ping, Buffer.concat([PROBE_MARK_BYTE, token]));
    this.emit(b, now, address);
    this.probesSent++;
  }

  /**
   * A ping reply from `address`: our probe's token echoed from the address probed moves the
   * session there (one echoed from elsewhere was relayed: the probe is void). Peers that answer
   * pings without their data (librtmfp) prove the address with a fresh empty reply from it: newer
   * than anything received, so not a copy of an earlier one.
   */
  private onPingReply(data: Buffer, address: string, order: TimestampOrder): void {
    if (data.length === 9 && data[0] === PROBE_MARK) {
      for (const [probed, p] of this.probes) {
        if (!p.token.equals(data.subarray(1))) continue;
        this.probes.delete(probed);
        if (probed === address) this.moveTo(address);
        return;
      }
      return;
    }
    if (data.length === 0 && address !== this.address && order === 'newer' && this.probes.has(address)) this.moveTo(address);
  }

  private moveTo(address: string): void {
    const old = this.address;
    this.address = address;
    this.probes.clear();
    this.handler?.onAddressChanged(old);
  }

  /**
   * Forwarded IHello (RFC 7016 2.3.3): someone at `from` wants to reach us (peer id `peerId`,
   * handshake tag `tag`); we may send it packets to open our NAT.
   */
  forwardHello(peerId: Buffer, from: string, tag: Buffer): void {
    if (this.closed) return;
    const epd = option(EPD_PEER_ID, peerId);
    this.control.push({ type: CHUNK.FwdIHello, data: Buffer.concat([vlu(epd.length), epd, encodeAddress(from, ADDRESS_PUBLIC_ORIGIN), tag]) });
    this.flushNow();
  }

  /** Flow exception report (0x5e): flow id and exception code 0; the flow is forgotten. */
  rejectFlow(flowId: number): void {
    this.control.push({ type: CHUNK.FlowException, data: Buffer.concat([vlu(flowId), vlu(0)]) });
    const flow = this.flows.get(flowId);
    if (flow) {
      flow.release();
      this.flows.delete(flowId);
    }
  }

  private onRangeAck(data: Buffer): void {
    const r = new Reader(data);
    const sender = this.senders.get(r.vlu());
    r.vlu(); // buffer available: our window is the congestion window
    const cumulative = r.vlu();
    if (!sender) return;
    const ranges: number[] = [];
    while (r.available && ranges.length < 256) ranges.push(r.vlu());
    this.acked(sender, sender.acknowledge(cumulative, ranges));
  }

  private onBitmapAck(data: Buffer): void {
    const r = new Reader(data);
    const sender = this.senders.get(r.vlu());
    r.vlu();
    const cumulative = r.vlu();
    if (!sender) return;
    // bitmap: bit i of byte j = sequence cumulative + 2 + 8j + i received; turn it into ranges
    const ranges: number[] = [];
    let prev = cumulative;
    let runStart = -1;
    let seq = cumulative + 2;
    const close = (end: number) => {
      ranges.push(runStart - prev - 2, end - runStart);
      prev = end;
      runStart = -1;
    };
    while (r.available) {
      const byte = r.u8();
      for (let i = 0; i < 8; i++, seq++) {
        if (byte & (1 << i)) {
          if (runStart < 0) runStart = seq;
        } else if (runStart >= 0) close(seq - 1);
      }
    }
    if (runStart >= 0) close(seq - 1);
    this.acked(sender, sender.acknowledge(cumulative, ranges));
  }

  private acked(sender: FlowSender, bytes: number): void {
    if (bytes > 0) {
      this.cwnd = Math.min(MAX_CWND, this.cwnd < this.ssthresh ? this.cwnd + bytes : this.cwnd + (MSS * bytes) / this.cwnd);
    }
    if (sender.done) this.senders.delete(sender.id);
    this.scheduleFlush();
  }

  private measureRtt(rtt: number): void {
    if (rtt > 60_000) return;
    if (this.srtt === 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
  }

  private get rto(): number {
    return Math.min(MAX_RTO, Math.max(MIN_RTO, this.srtt + 4 * this.rttvar + 50));
  }

  /** A new sending flow; `metadata` is its per-flow metadata, `associated` the flow it answers. */
  newSender(metadata: Buffer | null, associated: number, reliable = true): FlowSender {
    const s = new FlowSender(this.nextSenderId++, metadata, associated, reliable);
    this.senders.set(s.id, s);
    return s;
  }

  /** Writers call this after queueing: packets go out at the end of the current tick. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushSafely(false);
    });
  }

  /** Timer and tick entry points: a bug here ends this session, never the process. */
  private flushSafely(scan: boolean): void {
    try {
      this.flushNow(scan);
    } catch (e) {
      this.host.error(`RTMFP session ${this.id} ended by an internal error: ${(e as Error).stack ?? e}`);
      if (!this.closed) {
        this.closed = true;
        this.closeReason = `internal error: ${(e as Error).message}`;
        this.release();
        this.finish();
      }
    }
  }

  private inFlightBytes(): number {
    let n = 0;
    for (const s of this.senders.values()) n += s.inFlightBytes;
    return n;
  }

  /** Sends control chunks, due retransmissions and new fragments as the window allows. */
  flushNow(scanRetransmissions = false): void {
    const now = Date.now();
    let b: PacketBuilder | null = null;
    const builder = (need: number): PacketBuilder => {
      if (b && b.room() >= need) return b;
      if (b) this.emit(b, now);
      b = this.newBuilder(now);
      return b;
    };
    for (const c of this.control) {
      const p = builder(c.data.length + 3);
      p.addChunk(c.type, c.data);
    }
    this.control.length = 0;
    if (!this.closed) {
      // scanning every fragment in flight is O(window): only on the timer or a suspected loss
      let suspected = scanRetransmissions;
      for (const s of this.senders.values()) if (s.lossSuspected) suspected = true;
      if (suspected) this.retransmit(now, builder);
      let budget = this.cwnd - this.inFlightBytes();
      // round robin over writers with something queued, one fragment each per turn
      let progress = true;
      while (budget > 0 && progress) {
        progress = false;
        for (const s of this.senders.values()) {
          if (!s.hasQueued || budget <= 0) continue;
          let p = builder(80);
          let end = s.nextFragment(p.buf, p.pos + 3, p.room() - 3, now);
          if (end < 0) {
            if (p.empty) continue;
            p = builder(this.crypto.capacity);
            end = s.nextFragment(p.buf, p.pos + 3, p.room() - 3, now);
            if (end < 0) continue;
          }
          const len = end - (p.pos + 3);
          p.chunk(CHUNK.UserData, len);
          budget -= len;
          progress = true;
        }
      }
    }
    if (b) this.emit(b, now);
    this.armTimer();
  }

  private retransmit(now: number, builder: (need: number) => PacketBuilder): void {
    const rto = this.rto;
    let lost = false;
    for (const s of this.senders.values()) {
      s.lossSuspected = false;
      let abandonUpTo = 0;
      const due: Fragment[] = [];
      for (const f of s.inFlight.values()) {
        const wait = Math.min(MAX_RTO, rto * 2 ** (f.sends - 1));
        if (f.nacks < 3 && now - f.sentAt < wait) continue;
        lost = true;
        s.lostFragments++;
        if (s.canAbandon(f)) abandonUpTo = Math.max(abandonUpTo, f.seq);
        else due.push(f);
      }
      if (abandonUpTo > 0) {
        const p = builder(s.abandonSize(abandonUpTo) + 3);
        const end = s.writeAbandon(abandonUpTo, p.buf, p.pos + 3);
        p.chunk(CHUNK.UserData, end - (p.pos + 3));
        this.abandons++;
      }
      for (const f of due) {
        if (f.sends >= MAX_SENDS) {
          this.fail(`flow ${s.id}: fragment ${f.seq} never acknowledged`);
          return;
        }
        const size = s.retransmitSize(f);
        const p = builder(size + 3);
        const end = s.writeRetransmit(f, p.buf, p.pos + 3, now);
        p.chunk(CHUNK.UserData, end - (p.pos + 3));
      }
      if (s.done) this.senders.delete(s.id);
    }
    // one loss event per round trip halves the window once, not once per lost fragment or tick
    if (lost && now - this.lastLossEvent > Math.max(this.srtt, MIN_RTO)) {
      this.lastLossEvent = now;
      this.ssthresh = Math.max(16 * 1024, this.cwnd / 2);
      this.cwnd = this.ssthresh;
    }
  }

  private newBuilder(now: number): PacketBuilder {
    const echo = this.peerTimestamp >= 0 && now - this.peerTimestampAt < 30_000;
    const flags = this.role === 'responder' ? FLAG_TCR | MODE_RESPONDER : MODE_INITIATOR;
    return new PacketBuilder(this.timestamps ? flags | FLAG_TS : flags, echo, this.crypto.capacity);
  }

  private emit(b: PacketBuilder, now: number, to = this.address): void {
    if (b.empty) return;
    const echo = (this.peerTimestamp + Math.floor((now - this.peerTimestampAt) / 4)) & 0xffff;
    const len = b.finish(nowTimestamp(now), echo);
    const datagram = this.crypto.encrypt(b.buf, len, this.farId);
    this.bytesSent += datagram.length;
    this.host.send(datagram, to);
  }

  /**
   * Retransmission timer: while something waits for an acknowledgement, a tick every half RTO
   * (10..100 ms) scans for fragments whose back-off expired. Cheaper than tracking each deadline.
   */
  private armTimer(): void {
    if (this.closed || this.timer) return;
    let waiting = false;
    for (const s of this.senders.values()) if (s.inFlight.size) waiting = true;
    if (!waiting) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushSafely(true);
    }, Math.min(100, Math.max(10, this.rto / 2)));
    this.timer.unref?.();
  }

  /** Periodic duty (every second from the server): keepalive and dead peer detection. */
  manage(now: number): void {
    if (this.closed) {
      if (this.closeSends > 0 && this.closeSends < CLOSE_RETRIES) this.sendClose();
      else if (this.closeSends >= CLOSE_RETRIES) this.finish();
      return;
    }
    for (const [a, p] of this.probes) if (now - p.sentAt > PROBE_LIFETIME) this.probes.delete(a);
    if (this.idleTimeoutMs > 0 && now - this.lastReception > this.idleTimeoutMs) {
      this.fail(`no packet for ${this.idleTimeoutMs} ms (timeout)`);
      return;
    }
    const keepalive = this.host.keepaliveMs;
    if (now - this.lastReception > keepalive && now - this.lastKeepalive > keepalive) {
      if (this.keepalivesUnanswered >= 4) {
        this.fail('peer silent (keepalive unanswered)');
        return;
      }
      this.keepalivesUnanswered++;
      this.lastKeepalive = now;
      this.control.push({ type: CHUNK.Ping, data: Buffer.alloc(0) });
      this.flushNow();
    }
  }

  /** Ends the session from our side: close request sent until acknowledged (or a few times). */
  close(reason: string): void {
    if (this.closed) return;
    this.host.debug(`RTMFP session ${this.id} closing: ${reason}`);
    this.closed = true;
    this.closeReason = reason;
    this.flushNow(); // control chunks still queued (acks, answers) go out first
    this.release();
    this.sendClose();
  }

  private fail(reason: string): void {
    this.close(reason);
  }

  private sendClose(): void {
    this.closeSends++;
    const b = this.newBuilder(Date.now());
    b.addChunk(CHUNK.CloseRequest, Buffer.alloc(0));
    this.emit(b, Date.now());
  }

  /** The peer closed (0x0c answered or 0x4c received): everything goes now. */
  private terminate(): void {
    if (!this.closed) {
      this.closed = true;
      this.closeReason = 'closed by peer';
      this.release();
    }
    this.finish();
  }

  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const f of this.flows.values()) f.release();
    this.flows.clear();
    const h = this.handler;
    this.handler = null;
    h?.onClosed();
  }

  private finish(): void {
    this.closeSends = 0;
    this.senders.clear();
    this.host.removed(this);
  }

  /** for tests/benches: memory held in receive buffers */
  get bufferedBytes(): number {
    return this.budget.used;
  }
}

