/** Nanoseconds per unit, as Go's time.ParseDuration spells them. */
const unitNanoseconds: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const component = /(\d*)(?:\.(\d*))?([a-zµμ]+)/y;

/**
 * Parses a Go duration string (`10s`, `1h30m`, `300ms`, `1.5h`, `-2m`) into milliseconds, the way
 * Distribution's configuration reads them. Returns undefined for anything Go would reject; `0` is the
 * only number accepted without a unit.
 */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let nanoseconds = 0;
  component.lastIndex = 0;
  while (component.lastIndex < rest.length) {
    const start = component.lastIndex;
    const match = component.exec(rest);
    if (match === null || match.index !== start) return undefined;
    const [, whole = '', fraction, unit = ''] = match;
    if (whole === '' && (fraction === undefined || fraction === '')) return undefined;
    const scale = unitNanoseconds[unit];
    if (scale === undefined) return undefined;
    nanoseconds += Number(`${whole === '' ? '0' : whole}.${fraction ?? ''}0`) * scale;
  }
  return (sign * nanoseconds) / 1e6;
}
