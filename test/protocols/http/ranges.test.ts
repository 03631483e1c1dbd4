/** Multiple byte ranges (RFC 9110 §14): multipart/byteranges with curl and raw sockets, parser fuzz. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RANGES, coalesce, parseRange } from '../../../src/protocols/http/ranges';
import { curl, rawExchange, requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { TestHost } from '../../helpers/test-host';

const SMALL = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'); // 46 bytes, kept in memory
const BIG = Buffer.alloc(700_000); // above the in-memory limit: streamed from disk
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + (i >> 8)) & 0xff;

interface Part {
  headers: Map<string, string>;
  body: Buffer;
}

/** Splits a multipart body on its boundary, checking the delimiter syntax strictly. */
function parseMultipart(body: Buffer, contentType: string | undefined): Part[] {
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(contentType ?? '');
  assert.ok(m, `multipart content type, got ${contentType}`);
  const delimiter = Buffer.from(`\r\n--${m[1]}`, 'latin1');
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  assert.equal(at, 0, 'body starts with the first delimiter');
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 4).toString('latin1') === '--\r\n') {
      assert.equal(at + 4, body.length, 'nothing after the close delimiter');
      return parts;
    }
    assert.equal(body.subarray(at, at + 2).toString('latin1'), '\r\n');
    const headEnd = body.indexOf('\r\n\r\n', at);
    assert.ok(headEnd > 0);
    const headers = new Map<string, string>();
    for (const line of body.subarray(at + 2, headEnd).toString('latin1').split('\r\n')) {
      const c = line.indexOf(':');
      headers.set(line.slice(0, c).toLowerCase(), line.slice(c + 1).trim());
    }
    const next = body.indexOf(delimiter, headEnd + 4);
    assert.ok(next > 0, 'every part is followed by a delimiter');
    parts.push({ headers, body: body.subarray(headEnd + 4, next) });
    at = next;
  }
}

/** Checks each part against the file: Content-Type, Content-Range and the bytes themselves. */
function checkParts(parts: Part[], file: Buffer, mime: string, expected: Array<[number, number]>): void {
  assert.deepEqual(
    parts.map((p) => p.headers.get('content-range')),
    expected.map(([s, e]) => `bytes ${s}-${e}/${file.length}`),
  );
  for (let i = 0; i < parts.length; i++) {
    assert.equal(parts[i].headers.get('content-type'), mime);
    assert.ok(parts[i].body.equals(file.subarray(expected[i][0], expected[i][1] + 1)), `part ${i} bytes`);
  }
}

function header(headers: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: (.*)\\r?$`, 'im').exec(headers);
  return m?.[1].trim();
}

/** One raw HTTP/1.1 response: status, head text, body sized by Content-Length. */
function splitResponse(raw: Buffer): { status: number; head: string; body: Buffer; rest: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'a response head');
  const head = raw.subarray(0, end).toString('latin1');
  const length = Number(header(head, 'Content-Length'));
  const body = raw.subarray(end + 4, end + 4 + length);
  assert.equal(body.length, length, 'whole body received');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head, body, rest: raw.subarray(end + 4 + length) };
}

async function server(t: TestContext): Promise<HTTPTestServer> {
  const s = await startHTTP({ dir: tempWWW({ 'a.txt': SMALL, 'big.bin': BIG }), host: (ctx) => new TestHost(ctx.wwwDir) });
  t.after(() => s.stop());
  return s;
}

test('parseRange: several specs, coalescing, order, caps and malformed headers', () => {
  const v = { etag: '"e"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' };
  assert.deepEqual(parseRange('bytes=0-9,20-29', 100, v), { kind: 'multi', spans: [{ start: 0, end: 9 }, { start: 20, end: 29 }] });
  // client order kept when nothing overlaps
  assert.deepEqual(parseRange('bytes=50-59, 0-9', 100, v), { kind: 'multi', spans: [{ start: 50, end: 59 }, { start: 0, end: 9 }] });
  // overlapping and touching spans merge; the merged span sits where its first spec was
  assert.deepEqual(parseRange('bytes=90-,5-10,0-4,8-12,-5', 100, v), { kind: 'multi', spans: [{ start: 90, end: 99 }, { start: 0, end: 12 }] });
  // all merge into one: an ordinary single range
  assert.deepEqual(parseRange('bytes=0-10,5-20,21-30', 100, v), { kind: 'partial', start: 0, end: 30 });
  // unsatisfiable specs dropped, all unsatisfiable: 416
  assert.deepEqual(parseRange('bytes=0-1,200-300', 100, v), { kind: 'partial', start: 0, end: 1 });
  assert.deepEqual(parseRange('bytes=200-300,-0', 100, v), { kind: 'unsatisfiable' });
  // malformed anywhere, a reversed spec, too many specs: the whole file
  for (const h of ['bytes=0-1,x', 'bytes=0-1,-', 'bytes=5-1,7-8', 'items=0-1', 'bytes=', 'bytes=,', 'bytes=0-1;2-3']) {
    assert.deepEqual(parseRange(h, 100, v), { kind: 'full' }, h);
  }
  const many = (n: number) => 'bytes=' + Array.from({ length: n }, (_, i) => `${i * 3}-${i * 3}`).join(',');
  assert.equal(parseRange(many(MAX_RANGES), 100, v).kind, 'multi');
  assert.deepEqual(parseRange(many(MAX_RANGES + 1), 100, v), { kind: 'full' });
  // If-Range: the current validators allow ranges, anything else gets the whole file
  assert.equal(parseRange('bytes=0-1,5-6', 100, v, '"e"').kind, 'multi');
  assert.equal(parseRange('bytes=0-1,5-6', 100, v, v.lastModified).kind, 'multi');
  assert.deepEqual(parseRange('bytes=0-1,5-6', 100, v, '"old"'), { kind: 'full' });
});

test('parseRange fuzz: random headers never throw, spans are in bounds and disjoint', () => {
  let seed = 0x5eed1234;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const pieces = ['bytes=', '-', ',', ' ', '0', '1', '9', '42', '99999999999999999999', 'x', ';', '=', '\t'];
  const v = { etag: '"e"', lastModified: 'x' };
  for (let i = 0; i < 5000; i++) {
    let h = rand(4) ? 'bytes=' : '';
    const n = rand(20);
    for (let j = 0; j < n; j++) h += pieces[rand(pieces.length)];
    const size = rand(3) ? rand(200) : 0;
    const r = parseRange(h, size, v);
    const spans = r.kind === 'multi' ? r.spans : r.kind === 'partial' ? [r] : [];
    if (r.kind === 'multi') assert.ok(r.spans.length >= 2 && r.spans.length <= MAX_RANGES, h);
    const sorted = [...spans].sort((a, b) => a.start - b.start);
    for (let k = 0; k < sorted.length; k++) {
      assert.ok(sorted[k].start >= 0 && sorted[k].start <= sorted[k].end && sorted[k].end < size, `${h} size ${size}`);
      if (k > 0) assert.ok(sorted[k].start > sorted[k - 1].end + 1, `${h}: coalesced`);
    }
  }
  assert.deepEqual(coalesce([]), []);
});

test('curl -r with several ranges: multipart/byteranges from memory and from disk', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t);
  let r = await curl(['-r', '0-9,20-29', s.url('a.txt')]);
  assert.equal(r.status, 206);
  assert.equal(header(r.headers, 'Content-Range'), undefined);
  assert.equal(Number(header(r.headers, 'Content-Length')), r.body.length);
  checkParts(parseMultipart(r.body, header(r.headers, 'Content-Type')), SMALL, 'text/plain; charset=utf-8', [[0, 9], [20, 29]]);
  // suffix and open ranges, client order kept
  r = await curl(['-r', '40-,-3,5-6', s.url('a.txt')]);
  assert.equal(r.status, 206);
  checkParts(parseMultipart(r.body, header(r.headers, 'Content-Type')), SMALL, 'text/plain; charset=utf-8', [[40, 45], [5, 6]]);
  // a large file: parts streamed from disk, some of them crossing read-buffer sizes
  r = await curl(['-r', '0-9,100000-250000,699000-', s.url('big.bin')]);
  assert.equal(r.status, 206);
  assert.equal(Number(header(r.headers, 'Content-Length')), r.body.length);
  checkParts(parseMultipart(r.body, header(r.headers, 'Content-Type')), BIG, 'application/octet-stream', [[0, 9], [100000, 250000], [699000, 699999]]);
  // then an ordinary request on the same connection: keep-alive still in step
  r = await curl(['-r', '1-2,4-5', s.url('big.bin'), '-o', '/dev/null', '--next', s.url('a.txt')]);
  assert.ok(r.body.equals(SMALL));
});

test('raw socket: overlapping ranges coalesce, too many get 200, If-Range, HEAD, pipelining', async (t) => {
  const s = await server(t);
  const get = (path: string, extra: string) => `GET /${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
  // overlapping + unsorted: 5-15 and 10-20 merge, 30-35 stays where it was asked
  let res = splitResponse(await rawExchange(s.port, get('a.txt', 'Range: bytes=30-35, 10-20, 5-15\r\n')));
  assert.equal(res.status, 206);
  checkParts(parseMultipart(res.body, header(res.head, 'Content-Type')), SMALL, 'text/plain; charset=utf-8', [[30, 35], [5, 20]]);
  // everything overlaps into one span: a single-range answer
  res = splitResponse(await rawExchange(s.port, get('big.bin', 'Range: bytes=0-99,50-149,150-199\r\n')));
  assert.equal(res.status, 206);
  assert.equal(header(res.head, 'Content-Range'), 'bytes 0-199/700000');
  assert.ok(res.body.equals(BIG.subarray(0, 200)));
  // too many ranges: the whole file, 200
  const many = Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
  res = splitResponse(await rawExchange(s.port, get('a.txt', `Range: bytes=${many}\r\n`)));
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(SMALL));
  // none satisfiable: 416
  res = splitResponse(await rawExchange(s.port, get('a.txt', 'Range: bytes=100-200,300-\r\n')));
  assert.equal(res.status, 416);
  assert.equal(header(res.head, 'Content-Range'), 'bytes */46');
  // If-Range with the current ETag: parts; with another: the whole file
  const head = (await rawExchange(s.port, `HEAD /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,3-4\r\n\r\n`)).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 206 /);
  assert.match(header(head, 'Content-Type') ?? '', /^multipart\/byteranges; boundary=/);
  assert.ok(Number(header(head, 'Content-Length')) > 4);
  assert.ok(head.endsWith('\r\n\r\n'), 'HEAD: Content-Length announced, no body');
  const etag = header(head, 'ETag');
  res = splitResponse(await rawExchange(s.port, get('big.bin', `Range: bytes=0-1,3-4\r\nIf-Range: ${etag}\r\n`)));
  assert.equal(res.status, 206);
  checkParts(parseMultipart(res.body, header(res.head, 'Content-Type')), BIG, 'application/octet-stream', [[0, 1], [3, 4]]);
  res = splitResponse(await rawExchange(s.port, get('big.bin', 'Range: bytes=0-1,3-4\r\nIf-Range: "stale"\r\n')));
  assert.equal(res.status, 200);
  assert.equal(res.body.length, BIG.length);
  // pipelined: a streamed multipart answer, then a small one, each whole and in order
  const raw = await rawExchange(s.port, get('big.bin', 'Range: bytes=10-19,600000-\r\n') + get('a.txt', 'Range: bytes=0-0,2-2\r\n'));
  const first = splitResponse(raw);
  checkParts(parseMultipart(first.body, header(first.head, 'Content-Type')), BIG, 'application/octet-stream', [[10, 19], [600000, 699999]]);
  const second = splitResponse(first.rest);
  checkParts(parseMultipart(second.body, header(second.head, 'Content-Type')), SMALL, 'text/plain; charset=utf-8', [[0, 0], [2, 2]]);
});
