/**
 * A second script "language" for the runtime's tests: an app whose folder holds `main.fake` (JSON)
 * runs in this engine. Its events are declared in the JSON: `{"events": {"onConnection": [results]}}`
 * answers with those results; `{"events": {"onStart": {"mona": ["split", "a,b", ","]}}}` calls a
 * method of the `mona` object through the generic descriptors, reading arguments through this
 * engine's own Args and writing results through its own Out. Every call is recorded.
 */
import { fromJS, Table, type Value } from '../../../src/serialization/value';
import type { App } from '../../../src/scripting/runtime/app';
import { APP_FUNCTION, NO_RESULTS, ScriptError, type AppInstance, type ArgKind, type Args, type ArgWriter, type CallResult, type EngineEntry, type Out, type ScriptEngine } from '../../../src/scripting/runtime/engine';
import type { ObjectClass } from '../../../src/scripting/runtime/model';
import type { Runtime } from '../../../src/scripting/runtime/runtime';

/** An API object as this engine holds it. */
export class FakeObject {
  constructor(
    readonly cls: ObjectClass<object>,
    readonly obj: object,
  ) {}
}

export type FakeValue = Value | FakeObject;

/** Arguments from a JS array. */
export class FakeArgs implements Args {
  constructor(readonly list: FakeValue[]) {}
  count(): number {
    return this.list.length;
  }
  private at(i: number): FakeValue | undefined {
    return this.list[i - 1];
  }
  kind(i: number): ArgKind {
    const v = this.at(i);
    if (v === undefined) return 'none';
    if (v === null) return 'nil';
    if (v instanceof FakeObject) return 'object';
    if (v instanceof Table) return 'table';
    if (Buffer.isBuffer(v)) return 'string';
    return typeof v as ArgKind;
  }
  number(i: number): number | undefined {
    const v = this.at(i);
    return typeof v === 'number' ? v : undefined;
  }
  boolean(i: number): boolean {
    const v = this.at(i);
    return v !== undefined && v !== null && v !== false;
  }
  text(i: number): string | null {
    const v = this.at(i);
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : Buffer.isBuffer(v) ? v.toString('utf8') : null;
  }
  bytes(i: number): Buffer | null {
    const v = this.at(i);
    return Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : typeof v === 'number' ? Buffer.from(String(v)) : null;
  }
  value(i: number): Value {
    const v = this.at(i);
    return v === undefined || v instanceof FakeObject ? null : v;
  }
  values(from: number): Value[] {
    const out: Value[] = [];
    for (let i = from; i <= this.list.length; i++) out.push(this.value(i));
    return out;
  }
  object<T extends object>(i: number, cls: ObjectClass<T>): T | undefined {
    const v = this.at(i);
    return v instanceof FakeObject && v.cls === (cls as unknown) ? (v.obj as T) : undefined;
  }
  display(i: number): string {
    return String(this.at(i));
  }
  callback(): void {
    throw new ScriptError('fake: no functions');
  }
  where(): string {
    return 'main.fake:1';
  }
  error(message: string): never {
    throw new ScriptError(`main.fake:1: ${message}`);
  }
}

/** Collects what is written. */
export class FakeOut implements Out {
  readonly values: FakeValue[] = [];
  reserve(): void {}
  nil(): void {
    this.values.push(null);
  }
  boolean(b: boolean): void {
    this.values.push(b);
  }
  number(n: number): void {
    this.values.push(n);
  }
  text(s: string): void {
    this.values.push(s);
  }
  bytes(b: Uint8Array): void {
    this.values.push(Buffer.from(b));
  }
  sharedBytes(b: Buffer): void {
    this.values.push(b);
  }
  value(v: Value): void {
    this.values.push(v);
  }
  object<T extends object>(cls: ObjectClass<T>, obj: T): void {
    this.values.push(new FakeObject(cls as unknown as ObjectClass<object>, obj));
  }
}

export interface FakeCall {
  app: string;
  event: string;
  args: FakeValue[];
}

interface Declared {
  events?: Record<string, unknown[] | { mona: [string, ...Value[]] }>;
  /** globals other apps read (`super.x`) */
  values?: Record<string, unknown>;
}

class FakeApp implements AppInstance {
  declared: Declared = {};
  constructor(
    readonly engine: FakeEngine,
    readonly app: App,
  ) {}
  run(code: Buffer): void {
    try {
      this.declared = JSON.parse(code.toString('utf8')) as Declared;
    } catch (e) {
      throw new ScriptError(`main.fake:1: ${(e as Error).message}`);
    }
  }
  callEvent<C>(name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult {
    const handler = this.declared.events?.[name];
    if (handler === undefined) return null;
    const out = new FakeOut();
    if (write) write(out, ctx);
    this.engine.calls.push({ app: this.app.path, event: name, args: out.values });
    let r: Value[];
    if (Array.isArray(handler)) r = handler.map(fromJS);
    else {
      // a method of mona, through its descriptor
      const [method, ...args] = handler.mona;
      const mona = this.engine.runtime.mona;
      const fn = mona.cls.methods?.[method];
      if (!fn) throw new ScriptError(`main.fake:1: mona has no ${method}`);
      const result = new FakeOut();
      fn(mona.obj, new FakeArgs(args), result);
      r = result.values.map((v) => (v instanceof FakeObject ? null : v));
      this.engine.monaResults.push(result.values);
    }
    return results ? r : NO_RESULTS;
  }
  evaluate(): Value[] {
    throw new ScriptError('fake: no evaluation');
  }
  global(name: string): Value | typeof APP_FUNCTION | undefined {
    const handler = this.declared.events?.[name];
    if (handler !== undefined) return APP_FUNCTION;
    const v = this.declared.values?.[name];
    return v === undefined ? undefined : fromJS(v as never);
  }
  unlink(): void {
    this.engine.unlinked.push(this.app.path);
  }
}

export class FakeEngine implements ScriptEngine {
  readonly name = 'fake';
  readonly version = 'fake 1';
  callBudgetMs = 0;
  readonly calls: FakeCall[] = [];
  readonly monaResults: FakeValue[][] = [];
  readonly unlinked: string[] = [];
  closed = false;
  constructor(readonly runtime: Runtime) {}
  createApp(app: App): AppInstance {
    return new FakeApp(this, app);
  }
  callMethod(): CallResult {
    return null;
  }
  knows(): boolean {
    return false;
  }
  release(): void {}
  close(): void {
    this.closed = true;
  }
}

/** The fake language's registration; `engines` receives every engine it makes. */
export function fakeEntry(engines: FakeEngine[]): EngineEntry {
  return {
    name: 'fake',
    mainFile: 'main.fake',
    create: (runtime) => {
      const e = new FakeEngine(runtime);
      engines.push(e);
      return e;
    },
  };
}
