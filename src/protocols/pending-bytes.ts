/**
 * For stream parsers (HTTP requests, WebSocket frames) whose unit (a body, a frame) arrives in many
 * socket reads: the pieces are held as they come and joined once, when the unit is complete.
 * Concatenating on every read would re-copy everything received so far: quadratic for a large body.
 */
export class PendingBytes {
  private parts: Buffer[] = [];
  private length = 0;

  /**
   * `data` appended to `buf` (the parser's unconsumed bytes), or null while `buf`, the held pieces
   * and `data` together stay under `need` bytes (then `data` is held, not copied). need = 0: join now.
   */
  join(buf: Buffer, data: Buffer, need: number): Buffer | null {
    if (buf.length + this.length + data.length < need) {
      this.parts.push(data);
      this.length += data.length;
      return null;
    }
    if (this.parts.length) {
      const all = Buffer.concat([buf, ...this.parts, data]);
      this.parts = [];
      this.length = 0;
      return all;
    }
    return buf.length ? Buffer.concat([buf, data]) : data;
  }
}
