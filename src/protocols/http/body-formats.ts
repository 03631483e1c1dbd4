/**
 * RPC bodies over HTTP: the request's Content-Type picks the codec, and the reply is
 * written in the same format. JSON is the default for replies to GET.
 */
import { decodeAMF0, encodeAMF0 } from '../../serialization/amf0';
import { decodeJSON, encodeJSON } from '../../serialization/json';
import { decodeQuery, encodeQuery } from '../../serialization/query';
import { DecodeError, type Value } from '../../serialization/value';
import { decodeXMLRPC, encodeXMLRPCFault, encodeXMLRPCResponse } from '../../serialization/xmlrpc';

export type BodyFormat = 'json' | 'xmlrpc' | 'amf' | 'query' | 'raw';

export function formatOf(contentType: string | undefined): BodyFormat {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (t === 'application/json' || t === 'text/json') return 'json';
  if (t === 'text/xml' || t === 'application/xml') return 'xmlrpc';
  if (t === 'application/amf' || t === 'application/x-amf') return 'amf';
  if (t === 'application/x-www-form-urlencoded') return 'query';
  return 'raw';
}

export const CONTENT_TYPES: Record<BodyFormat, string> = {
  json: 'application/json',
  xmlrpc: 'text/xml',
  amf: 'application/x-amf',
  query: 'application/x-www-form-urlencoded',
  raw: 'application/octet-stream',
};

/** A decoded body: `method` when the body itself names one (XML-RPC, `["name", ...]`). */
export interface DecodedBody {
  method: string | null;
  args: Value[];
}

/**
 * Throws DecodeError for a malformed body (the session answers 400). `named` = the URL already
 * names the method, so a leading string in a JSON/AMF body is an argument, not a method name.
 */
export function decodeBody(format: BodyFormat, body: Buffer, named: boolean): DecodedBody {
  switch (format) {
    case 'json': {
      if (body.length === 0) return { method: null, args: [] };
      const args = decodeJSON(body);
      return splitMethod(args, named);
    }
    case 'amf': {
      const args = decodeAMF0(body);
      return splitMethod(args, named);
    }
    case 'query':
      return { method: null, args: decodeQuery(body) };
    case 'xmlrpc': {
      const call = decodeXMLRPC(body);
      if (call.method === undefined) throw new DecodeError('XML-RPC', 'a request body must be a <methodCall>');
      return { method: call.method, args: call.params };
    }
    default:
      return { method: null, args: body.length ? [body] : [] };
  }
}

function splitMethod(args: Value[], named: boolean): DecodedBody {
  if (!named && args.length > 0 && typeof args[0] === 'string') return { method: args[0], args: args.slice(1) };
  return { method: null, args };
}

/** The reply body of an RPC, in the request's format. */
export function encodeReply(format: BodyFormat, values: Value[]): Buffer {
  switch (format) {
    case 'xmlrpc':
      return Buffer.from(encodeXMLRPCResponse(values));
    case 'amf':
      return encodeAMF0(...values);
    case 'query':
      return Buffer.from(encodeQuery(values));
    default:
      return Buffer.from(encodeJSON(values));
  }
}

/** An RPC failure, in the request's format (XML-RPC has its fault structure). */
export function encodeFailure(format: BodyFormat, message: string): Buffer {
  if (format === 'xmlrpc') return Buffer.from(encodeXMLRPCFault(500, message));
  return encodeReply(format === 'raw' ? 'json' : format, [message]);
}

export function replyType(format: BodyFormat): string {
  return CONTENT_TYPES[format === 'raw' ? 'json' : format];
}

export { DecodeError };
