/**
 * Script objects of SPEC S3 backed by core objects: client, writer, publication, listener,
 * QualityOfService and the collections (mona.clients, mona.publications, publication.listeners).
 * Each JS object has one Lua table for its life in scripts (so functions scripts add to it, such
 * as `function client:test()`, stay), released when the object ends.
 */
import type { Client, Clients } from '../../core/client';
import type { Listener } from '../../core/listener';
import { DataType, MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import type { Publications } from '../../core/publications';
import type { QualityOfService } from '../../core/qos';
import type { Writer } from '../../core/writer';
import { encodeAMF0 } from '../../serialization/amf0';
import { encodeJSON } from '../../serialization/json';
import { Table, type Value } from '../../serialization/value';
import { encodeXMLRPCResponse } from '../../serialization/xmlrpc';
import { lua, toLuaString } from '../lua/fengari';
import type { LuaClass, LuaState, LuaVM } from '../lua/vm';
import type { LuaHost } from '../lua-host';

/** Arguments from `first` to the top as Values. */
export function argValues(vm: LuaVM, first: number): Value[] {
  const out: Value[] = [];
  const top = vm.top();
  for (let i = first; i <= top; i++) out.push(vm.toValue(i));
  return out;
}

/** Arguments from `first` to the top as bytes, concatenated (strings raw, numbers as text). */
export function argBytes(vm: LuaVM, first: number): Buffer {
  const parts: Buffer[] = [];
  const top = vm.top();
  for (let i = first; i <= top; i++) {
    const b = vm.toBytes(i);
    if (b) parts.push(b);
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

function argNumber(L: LuaState, idx: number, dflt: number): number {
  return lua.lua_type(L, idx) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, idx) : dflt;
}

/** `client.properties`: readable table, callable to set a cookie (HTTP) */
interface PropertiesOf {
  client: Client;
}

/** `publication.listeners`: the collection object of one publication */
interface ListenersOf {
  pub: Publication;
}

export class ScriptObjects {
  readonly qos: LuaClass<QualityOfService>;
  readonly writer: LuaClass<Writer>;
  readonly client: LuaClass<Client>;
  readonly publication: LuaClass<Publication>;
  readonly listener: LuaClass<Listener>;
  readonly clients: LuaClass<Clients>;
  readonly publications: LuaClass<Publications>;
  readonly listeners: LuaClass<ListenersOf>;
  readonly properties: LuaClass<PropertiesOf>;
  private readonly propertiesKey = new WeakMap<Client, PropertiesOf>();
  /** publication → its `listeners` collection key object */
  private readonly listenersKey = new WeakMap<Publication, ListenersOf>();

  constructor(private readonly host: LuaHost) {
    const vm = host.vm;
    const L = vm.L;
    const self = this;

    this.qos = {
      name: 'QualityOfService',
      get(vm, q, key) {
        switch (key) {
          case 'lostRate':
          case 'byteRate':
          case 'latency':
          case 'lastSendingTime':
          case 'droppedFrames':
            lua.lua_pushnumber(vm.L, q[key]);
            return true;
        }
        return false;
      },
    };

    this.writer = {
      name: 'Writer',
      get(vm, w, key) {
        if (key === 'reliable') lua.lua_pushboolean(vm.L, w.reliable);
        else if (key === 'closed') lua.lua_pushboolean(vm.L, w.closed);
        else return false;
        return true;
      },
      set(vm, w, key) {
        if (key !== 'reliable') return false;
        w.reliable = lua.lua_toboolean(vm.L, 3);
        return true;
      },
      methods: {
        writeInvocation(vm, w) {
          const name = vm.toText(2);
          if (name === null) return vm.argError(2, 'writeInvocation needs a method name');
          w.writeInvocation(name, argValues(vm, 3));
          return 0;
        },
        writeMessage(vm, w) {
          w.writeMessage(argValues(vm, 2));
          return 0;
        },
        writeRaw(vm, w) {
          w.writeRaw(argBytes(vm, 2));
          return 0;
        },
        writeStatusResponse(vm, w) {
          const code = vm.toText(2);
          if (code === null) return vm.argError(2, 'writeStatusResponse needs a code');
          w.writeStatusResponse(code, vm.toText(3) ?? undefined);
          return 0;
        },
        flush(vm, w, L) {
          w.flush(lua.lua_type(L, 2) === lua.LUA_TNONE || lua.lua_isnil(L, 2) ? true : lua.lua_toboolean(L, 2));
          return 0;
        },
        newWriter(vm, w) {
          const created = w.newWriter();
          self.host.managedWriters.add(created);
          created.onClose(() => {
            self.host.managedWriters.delete(created);
            vm.release(created);
          });
          vm.pushObject(self.writer, created);
          return 1;
        },
        close(vm, w) {
          w.close();
          return 0;
        },
      },
      describe: () => 'Writer',
    };

    this.client = {
      name: 'Client',
      get(vm, c, key) {
        const L = vm.L;
        switch (key) {
          case 'id':
            vm.pushString(c.id);
            return true;
          case 'rawId':
            vm.pushBytes(c.rawId);
            return true;
          case 'address':
            vm.pushString(c.address);
            return true;
          case 'path':
            vm.pushString(c.path);
            return true;
          case 'ping':
            lua.lua_pushnumber(L, c.ping);
            return true;
          case 'lastReceptionTime':
            lua.lua_pushnumber(L, c.lastReceptionTime);
            return true;
          case 'protocol':
            vm.pushString(c.protocol);
            return true;
          case 'query':
            vm.pushString(c.query);
            return true;
          case 'writer':
            vm.pushObject(self.writer, c.writer);
            return true;
          case 'properties': {
            let k = self.propertiesKey.get(c);
            if (!k) self.propertiesKey.set(c, (k = { client: c }));
            vm.pushObject(self.properties, k);
            return true;
          }
          case 'parameters': {
            const section = self.host.ctx.config.raw[c.protocol] ?? self.host.ctx.config.raw[c.protocol.toLowerCase()];
            vm.pushValue(typeof section === 'object' ? new Table([], section) : new Table());
            return true;
          }
        }
        const v = c.properties.field(key);
        if (v === undefined) return false;
        vm.pushValue(v);
        return true;
      },
      describe: (c) => `Client ${c.id}`,
    };

    this.publication = {
      name: 'Publication',
      get(vm, p, key) {
        const L = vm.L;
        switch (key) {
          case 'name':
            vm.pushString(p.name);
            return true;
          case 'lastTime':
            lua.lua_pushnumber(L, p.lastTime);
            return true;
          case 'droppedFrames':
            lua.lua_pushnumber(L, p.droppedFrames);
            return true;
          case 'running':
            lua.lua_pushboolean(L, p.running);
            return true;
          case 'properties':
            vm.pushValue(p.properties);
            return true;
          case 'audioQOS':
            vm.pushObject(self.qos, p.audioQOS);
            return true;
          case 'videoQOS':
            vm.pushObject(self.qos, p.videoQOS);
            return true;
          case 'dataQOS':
            vm.pushObject(self.qos, p.dataQOS);
            return true;
          case 'listeners':
            vm.pushObject(self.listeners, self.listenersOf(p));
            return true;
          case 'publisher':
            if (p.publisher) self.pushClient(p.publisher);
            else lua.lua_pushnil(L);
            return true;
        }
        return false;
      },
      methods: {
        writeProperties(vm, p) {
          const v = vm.toValue(2);
          const props = v instanceof Table ? v : new Table();
          const frame = new MediaFrame(MediaType.Data, p.lastTime, encodeAMF0('onMetaData', props), DataType.AMF0);
          p.setMetadata(frame, props);
          return 0;
        },
        clearProperties(vm, p) {
          p.setMetadata(null, new Table());
          return 0;
        },
        pushAudio(vm, p, L) {
          const packet = vm.toBytes(3);
          if (packet) {
            if (lua.lua_type(L, 4) === lua.LUA_TNUMBER) p.audioQOS.latency = lua.lua_tonumber(L, 4);
            p.pushAudio(argNumber(L, 2, p.lastTime), packet);
          }
          return 0;
        },
        pushVideo(vm, p, L) {
          const packet = vm.toBytes(3);
          if (packet) {
            if (lua.lua_type(L, 4) === lua.LUA_TNUMBER) p.videoQOS.latency = lua.lua_tonumber(L, 4);
            p.pushVideo(argNumber(L, 2, p.lastTime), packet);
          }
          return 0;
        },
        pushAMFData(vm, p) {
          p.pushData(encodeAMF0(...argValues(vm, 2)), DataType.AMF0);
          return 0;
        },
        pushAMF0Data(vm, p) {
          p.pushData(encodeAMF0(...argValues(vm, 2)), DataType.AMF0);
          return 0;
        },
        pushJSONData(vm, p) {
          p.pushData(Buffer.from(encodeJSON(argValues(vm, 2)), 'utf8'), DataType.JSON);
          return 0;
        },
        pushXMLRPCData(vm, p) {
          p.pushData(Buffer.from(encodeXMLRPCResponse(argValues(vm, 2)), 'utf8'), DataType.XMLRPC);
          return 0;
        },
        pushData(vm, p) {
          p.pushData(argBytes(vm, 2), DataType.RAW);
          return 0;
        },
        flush(vm, p) {
          p.flush();
          return 0;
        },
        close(vm, p) {
          // the publisher's own end (its NetStream) is told why and stops; then the publication ends
          p.source?.closePublication(vm.toText(2) || null, vm.toText(3));
          self.host.ctx.publications.unpublish(p);
          return 0;
        },
      },
      describe: (p) => `Publication ${p.name}`,
    };

    this.listener = {
      name: 'Listener',
      get(vm, l, key) {
        const L = vm.L;
        switch (key) {
          case 'client':
            if (l.client) self.pushClient(l.client);
            else lua.lua_pushnil(L);
            return true;
          case 'publication':
            self.pushPublication(l.publication);
            return true;
          case 'parameters':
            vm.pushValue(l.parameters);
            return true;
          case 'receiveAudio':
            lua.lua_pushboolean(L, l.receiveAudio);
            return true;
          case 'receiveVideo':
            lua.lua_pushboolean(L, l.receiveVideo);
            return true;
          case 'audioQOS':
            vm.pushObject(self.qos, l.audioQOS);
            return true;
          case 'videoQOS':
            vm.pushObject(self.qos, l.videoQOS);
            return true;
          case 'dataQOS':
            vm.pushObject(self.qos, l.dataQOS);
            return true;
        }
        return false;
      },
      set(vm, l, key) {
        if (key === 'receiveAudio') l.setReceiveAudio(lua.lua_toboolean(vm.L, 3));
        else if (key === 'receiveVideo') l.setReceiveVideo(lua.lua_toboolean(vm.L, 3));
        else return false;
        return true;
      },
      describe: (l) => `Listener of ${l.publication.name}`,
    };

    this.clients = {
      name: 'Clients',
      get(vm, clients, key) {
        if (key === 'count') {
          lua.lua_pushnumber(vm.L, clients.size);
          return true;
        }
        const c = clients.get(key);
        if (!c) return false;
        self.pushClient(c);
        return true;
      },
      meta: {
        __call(vm, clients) {
          const id = vm.toBytes(2);
          if (!id) return 0;
          const c = id.length === 32 ? clients.get(id) ?? clients.get(id.toString('latin1')) : clients.get(id.toString('utf8'));
          if (!c) return 0;
          self.pushClient(c);
          return 1;
        },
        __len(vm, clients) {
          lua.lua_pushnumber(vm.L, clients.size);
          return 1;
        },
        __pairs(vm, clients) {
          return vm.pushPairs(() => {
            lua.lua_createtable(L, 0, clients.size);
            for (const c of clients) {
              self.pushClient(c);
              lua.lua_setfield(L, -2, toLuaString(c.id));
            }
          });
        },
      },
    };

    this.publications = {
      name: 'Publications',
      get(vm, pubs, key) {
        if (key === 'count') {
          lua.lua_pushnumber(vm.L, pubs.size);
          return true;
        }
        const p = pubs.get(key);
        if (!p) return false;
        self.pushPublication(p);
        return true;
      },
      meta: {
        __call(vm, pubs) {
          const name = vm.toText(2);
          const p = name === null ? undefined : pubs.get(name);
          if (!p) return 0;
          self.pushPublication(p);
          return 1;
        },
        __len(vm, pubs) {
          lua.lua_pushnumber(vm.L, pubs.size);
          return 1;
        },
        __pairs(vm, pubs) {
          return vm.pushPairs(() => {
            lua.lua_createtable(L, 0, pubs.size);
            for (const p of pubs) {
              self.pushPublication(p);
              lua.lua_setfield(L, -2, toLuaString(p.name));
            }
          });
        },
      },
    };

    this.properties = {
      name: 'Properties',
      get(vm, { client }, key) {
        const v = client.properties.field(key);
        if (v === undefined) return false;
        vm.pushValue(v);
        return true;
      },
      meta: {
        // client.properties(key, value[, options]): HTTP sets a cookie (and the property)
        __call(vm, { client }) {
          const key = vm.toText(2);
          if (key === null) return vm.argError(2, 'property name expected');
          const value = vm.toValue(3);
          const options = vm.toValue(4);
          lua.lua_pushboolean(vm.L, client.setCookie(key, value, options instanceof Table ? options : null));
          return 1;
        },
        __len(vm, { client }) {
          lua.lua_pushnumber(vm.L, client.properties.fields.size + client.properties.items.length);
          return 1;
        },
        __pairs(vm, { client }) {
          return vm.pushPairs(() => vm.pushValue(client.properties));
        },
      },
      describe: ({ client }) => `properties of ${client.id}`,
    };

    this.listeners = {
      name: 'Listeners',
      get(vm, { pub }, key) {
        if (key === 'count') {
          lua.lua_pushnumber(vm.L, pub.listeners.size);
          return true;
        }
        return false;
      },
      meta: {
        __len(vm, { pub }) {
          lua.lua_pushnumber(vm.L, pub.listeners.size);
          return 1;
        },
        __pairs(vm, { pub }) {
          // keys are Client objects (script listeners: the listener itself), values Listener objects
          return vm.pushPairs(() => {
            lua.lua_createtable(L, 0, pub.listeners.size);
            for (const l of pub.listeners) {
              if (l.client) self.pushClient(l.client);
              else self.pushListener(l);
              self.pushListener(l);
              lua.lua_rawset(L, -3);
            }
          });
        },
      },
    };
  }

  private listenersOf(p: Publication): ListenersOf {
    // the collection needs its own JS object (one Lua table per JS object): one per publication
    let k = this.listenersKey.get(p);
    if (!k) {
      k = { pub: p };
      this.listenersKey.set(p, k);
    }
    return k;
  }

  pushClient(c: Client): void {
    this.host.vm.pushObject(this.client, c);
  }

  forgetClient(c: Client): void {
    this.host.vm.release(c);
    this.host.vm.release(c.writer);
    const k = this.propertiesKey.get(c);
    if (k) this.host.vm.release(k);
  }

  pushPublication(p: Publication): void {
    this.watchPublication(p);
    this.host.vm.pushObject(this.publication, p);
  }

  forgetPublication(p: Publication): void {
    this.host.vm.release(p);
    const k = this.listenersKey.get(p);
    if (k) this.host.vm.release(k);
  }

  pushListener(l: Listener): void {
    this.host.vm.pushObject(this.listener, l);
  }

  forgetListener(l: Listener): void {
    this.host.vm.release(l);
  }

  /**
   * Routes a publication's media events to its script object (`publication:onVideo(time, packet)`
   * ...), only once a script has seen the publication: the per-frame cost without one is a Map lookup.
   */
  watchPublication(p: Publication): void {
    if (p.events) return;
    const host = this.host;
    const vm = host.vm;
    const pushSelf = (): void => vm.pushObject(this.publication, p);
    const media = (name: string) => (frame: MediaFrame) => {
      if (!vm.hasObject(p)) return;
      host.method(pushSelf, name, () => {
        lua.lua_pushnumber(vm.L, frame.time);
        vm.pushSharedBytes(frame.payload);
        return 2;
      });
    };
    p.events = {
      onAudio: media('onAudio'),
      onVideo: media('onVideo'),
      onData(frame) {
        if (!vm.hasObject(p)) return;
        host.method(pushSelf, 'onData', () => {
          vm.pushSharedBytes(frame.payload);
          vm.pushString(frame.dataType);
          return 2;
        });
      },
      onFlush() {
        if (!vm.hasObject(p)) return;
        host.method(pushSelf, 'onFlush', () => 0);
      },
    };
  }

  /** `writer:onManage()` and similar events on a writer's script object. */
  writerEvent(w: Writer, name: string): void {
    const vm = this.host.vm;
    if (!vm.hasObject(w)) return;
    this.host.method(() => vm.pushObject(this.writer, w), name, () => 0);
  }
}
