/** URL pieces RTMFP needs: the path and query of `rtmfp://host:port/app?x=1`, a query as one table. */
import { decodeQuery } from '../../serialization/query';
import { Table } from '../../serialization/value';

export function splitUrl(url: string): { path: string; query: string } {
  let rest = url;
  const scheme = rest.indexOf('://');
  if (scheme >= 0) {
    rest = rest.slice(scheme + 3);
    const slash = rest.indexOf('/');
    const qm = rest.indexOf('?');
    const cut = slash < 0 ? (qm < 0 ? rest.length : qm) : qm >= 0 && qm < slash ? qm : slash;
    rest = rest.slice(cut);
  }
  const q = rest.indexOf('?');
  const path = (q >= 0 ? rest.slice(0, q) : rest).replace(/\/+$/, '');
  return { path: path === '' || path.startsWith('/') ? path : '/' + path, query: q >= 0 ? rest.slice(q + 1) : '' };
}

/** `a=1&b=x` → {a=1, b="x"} (fields of every pair; bare tokens become items). */
export function parseQuery(query: string): Table {
  const out = new Table();
  for (const v of decodeQuery(query)) {
    if (v instanceof Table) for (const [k, x] of v.fields) out.fields.set(k, x);
    else out.items.push(v);
  }
  return out;
}
