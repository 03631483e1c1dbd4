/**
 * A publication's data frame in the forms players need, whatever protocol published it: the script
 * values it carries, and AMF0 for Flash players (RTMP, RTMFP) and FLV script tags. A WebSocket
 * publisher's JSON or an AMF3 client's data is converted once per frame (frame.serialized), and
 * that one buffer is shared by every listener of every protocol.
 */
import { DataType, type MediaFrame } from '../core/media';
import { decodeAMF0, encodeAMF0 } from '../serialization/amf0';
import { decodeAMF3 } from '../serialization/amf3';
import { decodeJSON } from '../serialization/json';
import { decodeQuery } from '../serialization/query';
import { decodeXMLRPCValues } from '../serialization/xmlrpc';
import type { Value } from '../serialization/value';

/** The values of a data frame, decoded by its data type; null for RAW bytes (not values). Throws DecodeError. */
export function dataValuesOf(frame: MediaFrame): Value[] | null {
  const p = frame.payload;
  switch (frame.dataType) {
    case DataType.AMF0:
      return decodeAMF0(p);
    case DataType.AMF3:
      return decodeAMF3(p);
    case DataType.JSON:
      return decodeJSON(p);
    case DataType.QUERY:
      return decodeQuery(p);
    case DataType.XMLRPC:
      return decodeXMLRPCValues(p);
    default:
      return null;
  }
}

/**
 * The data frame as an AMF0 data message body: AMF0 as published (no copy), other data types
 * converted once per frame. null when nothing can be carried: RAW bytes, undecodable data, or no
 * values at all (an empty data message means nothing to a Flash player).
 */
export function amf0DataOf(frame: MediaFrame): Buffer | null {
  if (frame.dataType === DataType.AMF0) return frame.payload;
  return frame.serialized('amf0-data', toAMF0);
}

function toAMF0(frame: MediaFrame): Buffer | null {
  try {
    const values = dataValuesOf(frame);
    return values && values.length ? encodeAMF0(...values) : null;
  } catch {
    return null; // undecodable data reaches no Flash player
  }
}
