/**
 * The shape in which the script API's objects are declared once, for every engine: a class of JS
 * objects (Client, Writer, Publication...) seen by scripts as objects with properties, methods and
 * collection behaviour. A binding turns one ObjectClass into whatever its language uses (a Lua
 * metatable, a JS prototype) and keeps one script object per JS object, so that what scripts store
 * on it (`function client:test()`) stays for the object's life.
 *
 * Reads of a key go: methods, then properties, then `fallback` (string keys) or `index` (any other
 * key: a number, an API object), then what scripts stored on the object. Writes go to `setters`
 * when the key has one, else onto the script object itself.
 */
import type { Value } from '../../serialization/value';
import type { Args, Out } from './engine';

export type PropertyGetter<T> = (obj: T, out: Out) => void;
export type PropertySetter<T> = (obj: T, args: Args) => void;
export type Method<T> = (obj: T, args: Args, out: Out) => void;

export interface ObjectClass<T extends object> {
  /** "Client", "Publication"...: error messages and the default tostring */
  readonly name: string;
  /** read-only values: the getter writes exactly one value to `out` */
  readonly properties?: Readonly<Record<string, PropertyGetter<T>>>;
  /** assignable properties: the new value is argument 1 of `args` */
  readonly setters?: Readonly<Record<string, PropertySetter<T>>>;
  /** methods (`obj:name(...)`): results are what they write to `out` */
  readonly methods?: Readonly<Record<string, Method<T>>>;
  /** a key that is neither a method nor a property: writes one value and returns true, or false (absent) */
  fallback?(obj: T, key: string, out: Out): boolean;
  /**
   * a key that is not a string (`publication.listeners[client]`, `mona.servers[1]`): the key is
   * argument 1 of `key`; writes one value and returns true, or false (absent). A language whose
   * objects take string keys only reaches the same through `call`.
   */
  index?(obj: T, key: Args, out: Out): boolean;
  /** the object called as a function (`mona.clients(id)`) */
  call?(obj: T, args: Args, out: Out): void;
  /** `#obj` */
  len?(obj: T): number;
  /** `pairs(obj)`: writes key, value, key, value... to `out` (a snapshot) */
  pairs?(obj: T, out: Out): void;
  /**
   * what the object is where a plain value is read (a call's results, a table converted for the
   * wire): a server returned by onHandshake is a record naming it. Absent: nil.
   */
  asValue?(obj: T): Value;
  /** tostring(obj); the class name when absent */
  describe?(obj: T): string;
  /**
   * methods whose results are a list of any length (`mona:split`, the decoders, `md5`): a language
   * without multiple results gives them as an array, even of one value
   */
  readonly listMethods?: readonly string[];
  /** the one object of a singleton class (mona): its methods also work called with '.' */
  readonly singleton?: T;
}

/** A function every app sees as a global (log functions): results are what it writes to `out`. */
export type GlobalFunction = (args: Args, out: Out) => void;
