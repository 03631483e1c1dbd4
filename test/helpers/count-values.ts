import { Table, type Value } from '../../src/serialization/value';

/** Values and table slots reachable from a list: what a decoder allocated, roughly (decoder size-limit tests). */
export function countNodes(values: Value[]): number {
  let n = 0;
  const stack = [...values];
  while (stack.length) {
    const v = stack.pop()!;
    n++;
    if (v instanceof Table) {
      stack.push(...v.items);
      for (const x of v.fields.values()) stack.push(x);
    }
  }
  return n;
}
