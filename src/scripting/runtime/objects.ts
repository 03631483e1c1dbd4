/**
 * The script API's objects backed by core objects, declared once for every engine:
 * client, writer, publication, listener, QualityOfService and the collections (mona.clients,
 * mona.publications, publication.listeners, client.properties). Each is an ObjectClass descriptor
 * (model.ts); a binding gives each JS object one script object for its life in scripts, released
 * when the object ends.
 */
import type { Client, Clients } from '../../core/client';
import type { ServerContext } from '../../core/context';
import type { Listener } from '../../core/listener';
import { DataType, MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import type { Publications } from '../../core/publications';
import type { QualityOfService } from '../../core/qos';
import type { Writer } from '../../core/writer';
import { encodeAMF0 } from '../../serialization/amf0';
import { encodeJSON } from '../../serialization/json';
import { Table } from '../../serialization/value';
import { typeText } from '../../serialization/text-values';
import { encodeXMLRPCResponse } from '../../serialization/xmlrpc';
import type { Args, Out } from './engine';
import type { ObjectClass } from './model';

/** What the object model needs from the runtime that owns it. */
export interface ObjectsHost {
  readonly ctx: ServerContext;
  /** writers made by newWriter() that scripts hold: their onManage runs every 2 s */
  readonly managedWriters: Set<Writer>;
  /** obj ended: every engine drops its script object */
  release(obj: object): void;
  /** a script is about to see p: route its media events to scripts from now on */
  watchPublication(p: Publication): void;
}

/** `client.properties`: one key object per client (a collection needs its own script object) */
export interface PropertiesOf {
  readonly client: Client;
}

/** `publication.listeners`: one key object per publication */
export interface ListenersOf {
  readonly pub: Publication;
}

/** Arguments from `first` on as bytes, concatenated (strings raw, numbers as text, others skipped). */
export function argBytes(args: Args, first: number): Buffer {
  const parts: Buffer[] = [];
  const n = args.count();
  for (let i = first; i <= n; i++) {
    const b = args.bytes(i);
    if (b) parts.push(b);
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

export class ApiObjects {
  readonly qos: ObjectClass<QualityOfService>;
  readonly writer: ObjectClass<Writer>;
  readonly client: ObjectClass<Client>;
  readonly publication: ObjectClass<Publication>;
  readonly listener: ObjectClass<Listener>;
  readonly clients: ObjectClass<Clients>;
  readonly publications: ObjectClass<Publications>;
  readonly properties: ObjectClass<PropertiesOf>;
  readonly listeners: ObjectClass<ListenersOf>;
  private readonly propertiesKey = new WeakMap<Client, PropertiesOf>();
  private readonly listenersKey = new WeakMap<Publication, ListenersOf>();

  constructor(private readonly host: ObjectsHost) {
    const self = this;

    const qosNumber = (key: 'lostRate' | 'byteRate' | 'latency' | 'lastSendingTime' | 'droppedFrames') => (q: QualityOfService, out: Out) =>
      out.number(q[key]);
    this.qos = {
      name: 'QualityOfService',
      properties: {
        lostRate: qosNumber('lostRate'),
        byteRate: qosNumber('byteRate'),
        latency: qosNumber('latency'),
        lastSendingTime: qosNumber('lastSendingTime'),
        droppedFrames: qosNumber('droppedFrames'),
      },
    };

    this.writer = {
      name: 'Writer',
      properties: {
        reliable: (w, out) => out.boolean(w.reliable),
        closed: (w, out) => out.boolean(w.closed),
      },
      setters: {
        reliable: (w, args) => {
          w.reliable = args.boolean(1);
        },
      },
      methods: {
        writeInvocation(w, args) {
          // without a name, the client's onMessage is invoked (MonaServer's default)
          const name = args.kind(1) === 'string' ? args.text(1) : null;
          if (name === null) w.writeInvocation('onMessage', args.values(1));
          else w.writeInvocation(name, args.values(2));
        },
        writeMessage(w, args) {
          w.writeMessage(args.values(1));
        },
        writeRaw(w, args) {
          w.writeRaw(argBytes(args, 1));
        },
        writeStatusResponse(w, args) {
          const code = args.text(1);
          if (code === null) return args.error('writeStatusResponse needs a code');
          w.writeStatusResponse(code, args.text(2) ?? undefined);
        },
        flush(w, args) {
          const k = args.kind(1);
          w.flush(k === 'none' || k === 'nil' ? true : args.boolean(1));
        },
        newWriter(w, _args, out) {
          const created = w.newWriter();
          host.managedWriters.add(created);
          created.onClose(() => {
            host.managedWriters.delete(created);
            host.release(created);
          });
          out.object(self.writer, created);
        },
        close(w) {
          w.close();
        },
      },
    };

    // the protocol's MonaServer.ini section, its values typed as in mona.configs
    const writeParameters = (c: Client, out: Out): void => {
      const raw = host.ctx.config.raw;
      const section = raw[c.protocol] ?? raw[c.protocol.toLowerCase()];
      const t = new Table();
      if (typeof section === 'object') for (const [k, v] of Object.entries(section)) t.set(k, typeText(v));
      out.value(t);
    };
    this.client = {
      name: 'Client',
      properties: {
        id: (c, out) => out.text(c.id),
        rawId: (c, out) => out.bytes(c.rawId),
        address: (c, out) => out.text(c.address),
        path: (c, out) => out.text(c.path),
        ping: (c, out) => out.number(c.ping),
        lastReceptionTime: (c, out) => out.number(c.lastReceptionTime),
        protocol: (c, out) => out.text(c.protocol),
        query: (c, out) => out.text(c.query),
        writer: (c, out) => out.object(self.writer, c.writer),
        properties: (c, out) => {
          let k = self.propertiesKey.get(c);
          if (!k) self.propertiesKey.set(c, (k = { client: c }));
          out.object(self.properties, k);
        },
        parameters: (c, out) => writeParameters(c, out),
      },
      // `client.RTMFP` (the protocol's name) is client.parameters; any other key reads the
      // connection's properties (`client.key` as `client.properties.key`)
      fallback(c, key, out) {
        if (key === c.protocol) {
          writeParameters(c, out);
          return true;
        }
        const v = c.properties.field(key);
        if (v === undefined) return false;
        out.value(v);
        return true;
      },
      describe: (c) => `Client ${c.id}`,
    };

    const pushData = (type: DataType, encode: (args: Args) => Buffer) => (p: Publication, args: Args) => p.pushData(encode(args), type);
    const pushMedia = (kind: 'audio' | 'video') => (p: Publication, args: Args) => {
      // the packet is read as bytes: never decoded, never copied by the accessor
      const packet = args.bytes(2);
      if (!packet) return;
      // the optional ping is this frame's latency sample (QualityOfService.latency)
      const ping = args.number(3);
      const time = args.number(1) ?? p.lastTime;
      if (kind === 'audio') p.pushAudio(time, packet, ping);
      else p.pushVideo(time, packet, ping);
    };
    this.publication = {
      name: 'Publication',
      properties: {
        name: (p, out) => out.text(p.name),
        lastTime: (p, out) => out.number(p.lastTime),
        droppedFrames: (p, out) => out.number(p.droppedFrames),
        running: (p, out) => out.boolean(p.running),
        properties: (p, out) => out.value(p.properties),
        audioQOS: (p, out) => out.object(self.qos, p.audioQOS),
        videoQOS: (p, out) => out.object(self.qos, p.videoQOS),
        dataQOS: (p, out) => out.object(self.qos, p.dataQOS),
        listeners: (p, out) => out.object(self.listeners, self.listenersOf(p)),
        publisher: (p, out) => (p.publisher ? out.object(self.client, p.publisher) : out.nil()),
      },
      methods: {
        writeProperties(p, args) {
          const v = args.value(1);
          const props = v instanceof Table ? v : new Table();
          const frame = new MediaFrame(MediaType.Data, p.lastTime, encodeAMF0('onMetaData', props), DataType.AMF0);
          p.setMetadata(frame, props);
        },
        clearProperties(p) {
          p.setMetadata(null, new Table());
        },
        pushAudio: pushMedia('audio'),
        pushVideo: pushMedia('video'),
        pushAMFData: pushData(DataType.AMF0, (args) => encodeAMF0(...args.values(1))),
        pushAMF0Data: pushData(DataType.AMF0, (args) => encodeAMF0(...args.values(1))),
        pushJSONData: pushData(DataType.JSON, (args) => Buffer.from(encodeJSON(args.values(1)), 'utf8')),
        pushXMLRPCData: pushData(DataType.XMLRPC, (args) => Buffer.from(encodeXMLRPCResponse(args.values(1)), 'utf8')),
        pushData: pushData(DataType.RAW, (args) => argBytes(args, 1)),
        flush(p) {
          p.flush();
        },
        close(p, args) {
          const code = args.text(1);
          const description = args.text(2);
          // the publisher's own end (a Flash NetStream) is told why and stops feeding; a publisher
          // without one (WebSocket) gets the status on its writer
          if (p.source) p.source.closePublication(code || null, description);
          else if (code && p.publisher) p.publisher.writer.writeStatusResponse(code, description ?? undefined);
          host.ctx.publications.unpublish(p);
        },
      },
      describe: (p) => `Publication ${p.name}`,
    };

    this.listener = {
      name: 'Listener',
      properties: {
        client: (l, out) => (l.client ? out.object(self.client, l.client) : out.nil()),
        publication: (l, out) => self.writePublication(out, l.publication),
        parameters: (l, out) => out.value(l.parameters),
        receiveAudio: (l, out) => out.boolean(l.receiveAudio),
        receiveVideo: (l, out) => out.boolean(l.receiveVideo),
        audioQOS: (l, out) => out.object(self.qos, l.audioQOS),
        videoQOS: (l, out) => out.object(self.qos, l.videoQOS),
        dataQOS: (l, out) => out.object(self.qos, l.dataQOS),
      },
      setters: {
        receiveAudio: (l, args) => l.setReceiveAudio(args.boolean(1)),
        receiveVideo: (l, args) => l.setReceiveVideo(args.boolean(1)),
      },
      describe: (l) => `Listener of ${l.publication.name}`,
    };

    this.clients = {
      name: 'Clients',
      properties: {
        count: (clients, out) => out.number(clients.size),
      },
      fallback(clients, key, out) {
        const c = clients.get(key);
        if (!c) return false;
        out.object(self.client, c);
        return true;
      },
      // mona.clients(id): the 64-hex id or the 32-byte raw id
      call(clients, args, out) {
        const id = args.bytes(1);
        if (!id) return;
        const c = id.length === 32 ? clients.get(id) ?? clients.get(id.toString('latin1')) : clients.get(id.toString('utf8'));
        if (c) out.object(self.client, c);
      },
      len: (clients) => clients.size,
      pairs(clients, out) {
        for (const c of clients) {
          out.text(c.id);
          out.object(self.client, c);
        }
      },
    };

    this.publications = {
      name: 'Publications',
      properties: {
        count: (pubs, out) => out.number(pubs.size),
      },
      fallback(pubs, key, out) {
        const p = pubs.get(key);
        if (!p) return false;
        self.writePublication(out, p);
        return true;
      },
      call(pubs, args, out) {
        const name = args.text(1);
        const p = name === null ? undefined : pubs.get(name);
        if (p) self.writePublication(out, p);
      },
      len: (pubs) => pubs.size,
      pairs(pubs, out) {
        for (const p of pubs) {
          out.text(p.name);
          self.writePublication(out, p);
        }
      },
    };

    this.properties = {
      name: 'Properties',
      fallback({ client }, key, out) {
        const v = client.properties.field(key);
        if (v === undefined) return false;
        out.value(v);
        return true;
      },
      // client.properties(key, value[, options]): HTTP sets a cookie (and the property)
      call({ client }, args, out) {
        const key = args.text(1);
        if (key === null) return args.error('property name expected');
        const options = args.value(3);
        out.boolean(client.setCookie(key, args.value(2), options instanceof Table ? options : null));
      },
      len: ({ client }) => client.properties.fields.size + client.properties.items.length,
      pairs({ client }, out) {
        const props = client.properties;
        for (let i = 0; i < props.items.length; i++) {
          if (props.items[i] === null) continue;
          out.number(i + 1);
          out.value(props.items[i]);
        }
        for (const [k, v] of props.fields) {
          if (v === null || k instanceof Table) continue;
          out.value(k);
          out.value(v);
        }
      },
      describe: ({ client }) => `properties of ${client.id}`,
    };

    // `listeners(client)`, `listeners[client]`: the listener of that client (or a listener itself)
    const listenerOf = (pub: Publication, key: Args): Listener | undefined => {
      const c = key.object(1, self.client);
      if (c) {
        for (const l of pub.listeners) if (l.client === c) return l;
        return undefined;
      }
      const l = key.object(1, self.listener);
      return l && pub.listeners.has(l) ? l : undefined;
    };
    this.listeners = {
      name: 'Listeners',
      properties: {
        count: ({ pub }, out) => out.number(pub.listeners.size),
      },
      call({ pub }, args, out) {
        const l = listenerOf(pub, args);
        if (l) out.object(self.listener, l);
      },
      index({ pub }, key, out) {
        const l = listenerOf(pub, key);
        if (!l) return false;
        out.object(self.listener, l);
        return true;
      },
      len: ({ pub }) => pub.listeners.size,
      // keys are Client objects (a listener made by a script: the listener itself), values Listener objects
      pairs({ pub }, out) {
        for (const l of pub.listeners) {
          if (l.client) out.object(self.client, l.client);
          else out.object(self.listener, l);
          out.object(self.listener, l);
        }
      },
    };
  }

  /** Writes a publication's script object (its media events reach scripts from now on). */
  writePublication(out: Out, p: Publication): void {
    this.host.watchPublication(p);
    out.object(this.publication, p);
  }

  private listenersOf(p: Publication): ListenersOf {
    let k = this.listenersKey.get(p);
    if (!k) this.listenersKey.set(p, (k = { pub: p }));
    return k;
  }

  /** The client ended: its script object, its writer's and its properties' are released. */
  forgetClient(c: Client): void {
    this.host.release(c);
    this.host.release(c.writer);
    const k = this.propertiesKey.get(c);
    if (k) this.host.release(k);
  }

  forgetPublication(p: Publication): void {
    this.host.release(p);
    this.forgetQOS(p);
    const k = this.listenersKey.get(p);
    if (k) this.host.release(k);
  }

  forgetListener(l: Listener): void {
    this.host.release(l);
    this.forgetQOS(l);
  }

  private forgetQOS(o: Publication | Listener): void {
    this.host.release(o.audioQOS);
    this.host.release(o.videoQOS);
    this.host.release(o.dataQOS);
  }
}
