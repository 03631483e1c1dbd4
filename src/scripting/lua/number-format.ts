/**
 * Numbers as LuaJIT prints them: C's "%.14g", so `10/2` prints `5` (not Lua 5.3's `5.0`),
 * `2^53` prints `9.007199254741e+15`, `1e-5` prints `1e-05`, infinities `inf`/`-inf`, NaN `nan`.
 */
export function formatLuaNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e14) return Object.is(n, -0) ? '-0' : String(n);
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
  // %g: exponent form when the decimal exponent is < -4 or >= the precision (14)
  const [mantissa, e] = n.toExponential(13).split('e');
  const exponent = Number(e);
  if (exponent < -4 || exponent >= 14) {
    const m = stripZeros(mantissa);
    const sign = exponent < 0 ? '-' : '+';
    const digits = String(Math.abs(exponent)).padStart(2, '0');
    return `${m}e${sign}${digits}`;
  }
  return stripZeros(n.toFixed(Math.max(0, 13 - exponent)));
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  return s.replace(/0+$/, '').replace(/\.$/, '');
}
