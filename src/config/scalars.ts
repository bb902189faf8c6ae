import { z } from 'zod';
import { parseAddressRanges } from './address-range.ts';
import { parseGoDuration } from './duration.ts';
import { parseListenAddress } from './listen-address.ts';

/**
 * Validators for leaf values. Every scalar arrives as its YAML text, and the target type decides how
 * to read it, as in Distribution (Go's YAML decoder): `true`, `yes` and `on` are booleans, `5000` is a
 * number, `10s` is a duration. Messages name what was expected and what was found; the key path is
 * added by the caller.
 */

type Context = z.core.$RefinementCtx<unknown>;

function reject(context: Context, input: unknown, message: string): never {
  context.addIssue({ code: 'custom', message, input });
  return z.NEVER;
}

/** How a value is shown in a message: the text itself (quoted, shortened) or its kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/**
 * The text of a scalar, or undefined once the problem is reported: the caller stops there, so a
 * list or a mapping gets one message, not one per check that follows. Only a required key that is
 * missing (or empty) reaches a validator as undefined.
 */
function textOf(value: unknown, context: Context, expected: string): string | undefined {
  if (typeof value === 'string') return value;
  const problem =
    value === undefined ? `is required: expected ${expected}` : `expected ${expected}, got ${describeValue(value)}`;
  context.addIssue({ code: 'custom', message: problem, input: value });
  return undefined;
}

export function text() {
  return z.unknown().transform((value, context) => textOf(value, context, 'a string') ?? z.NEVER);
}

export function nonEmptyText() {
  return z.unknown().transform((value, context) => {
    const result = textOf(value, context, 'a string');
    if (result === undefined) return z.NEVER;
    return result === '' ? reject(context, value, 'must not be empty') : result;
  });
}

// The YAML 1.1 spellings Go's decoder (gopkg.in/yaml.v2, used by Distribution) reads as booleans.
const trueWords = new Set(['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'y', 'Y', 'on', 'On', 'ON']);
const falseWords = new Set(['false', 'False', 'FALSE', 'no', 'No', 'NO', 'n', 'N', 'off', 'Off', 'OFF']);

export function flag() {
  return z.unknown().transform((value, context): boolean => {
    if (typeof value === 'string' && trueWords.has(value)) return true;
    if (typeof value === 'string' && falseWords.has(value)) return false;
    return reject(context, value, `expected boolean, got ${describeValue(value)}`);
  });
}

export function integer(range: { min?: number; max?: number } = {}) {
  return z.unknown().transform((value, context): number => {
    const source = textOf(value, context, 'an integer');
    if (source === undefined) return z.NEVER;
    const number = /^[-+]?\d+$/.test(source) ? Number(source) : Number.NaN;
    if (!Number.isSafeInteger(number))
      return reject(context, value, `expected an integer, got ${describeValue(value)}`);
    if (range.min !== undefined && number < range.min) {
      return reject(context, value, `expected an integer of at least ${range.min}, got ${source}`);
    }
    if (range.max !== undefined && number > range.max) {
      return reject(context, value, `expected an integer of at most ${range.max}, got ${source}`);
    }
    return number;
  });
}

/**
 * A Go duration (`10s`, `168h`, `1h30m`, `300ms`) as milliseconds. A bare number other than 0 is
 * refused: Distribution reads it as nanoseconds for some keys and rejects it for others, and either
 * way it is almost always a missing unit.
 */
export function duration(options: { positive?: boolean } = {}) {
  return z.unknown().transform((value, context): number => {
    const source = textOf(value, context, 'a duration such as "10s"');
    if (source === undefined) return z.NEVER;
    if (/^[-+]?(\d+\.?\d*|\.\d+)$/.test(source) && Number(source) !== 0) {
      return reject(
        context,
        value,
        `expected a duration with a unit such as "10s" or "168h", got ${describeValue(value)} (a bare number has no unit)`,
      );
    }
    const milliseconds = parseGoDuration(source);
    if (milliseconds === undefined) {
      return reject(
        context,
        value,
        `expected a duration such as "10s", "1h30m" or "300ms", got ${describeValue(value)}`,
      );
    }
    if (milliseconds < 0) return reject(context, value, `expected a duration that is not negative, got ${source}`);
    if (options.positive === true && milliseconds === 0) {
      return reject(context, value, `expected a duration greater than zero, got ${source}`);
    }
    return milliseconds;
  });
}

/** One of a fixed set of words; `aliases` maps other accepted spellings to them. */
export function oneOf<const T extends string>(
  values: readonly T[],
  options: { ignoreCase?: boolean; aliases?: Record<string, T> } = {},
) {
  const expected = values.map((item) => JSON.stringify(item)).join(', ');
  return z.unknown().transform((value, context): T => {
    const source = textOf(value, context, `one of ${expected}`);
    if (source === undefined) return z.NEVER;
    const word = options.ignoreCase === true ? source.toLowerCase() : source;
    const found = values.find((item) => item === word) ?? options.aliases?.[word];
    return found ?? reject(context, value, `expected one of ${expected}, got ${describeValue(value)}`);
  });
}

export function listenAddress(key: string) {
  return z.unknown().transform((value, context): string => {
    const source = textOf(value, context, 'a listen address such as ":5000"');
    if (source === undefined) return z.NEVER;
    try {
      parseListenAddress(source, key);
      return source;
    } catch (error) {
      // The path is added by the caller; keep only the reason.
      const reason = error instanceof Error ? error.message.slice(key.length + 2) : String(error);
      return reject(context, value, reason);
    }
  });
}

export function absoluteUrl() {
  return z.unknown().transform((value, context): string => {
    const source = textOf(value, context, 'a URL such as "https://registry.example.com"');
    if (source === undefined) return z.NEVER;
    const url = URL.canParse(source) ? new URL(source) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
      return reject(context, value, `expected an http:// or https:// URL, got ${describeValue(value)}`);
    }
    if (url.search !== '' || url.hash !== '') {
      return reject(context, value, `expected a URL without query or fragment, got ${describeValue(value)}`);
    }
    return source;
  });
}

/** An http:// or https:// URL that may carry a query string (a receiver's `?token=`). */
export function httpUrl() {
  return z.unknown().transform((value, context): string => {
    const source = textOf(value, context, 'a URL such as "https://hooks.example.com/registry"');
    if (source === undefined) return z.NEVER;
    const url = URL.canParse(source) ? new URL(source) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
      return reject(context, value, `expected an http:// or https:// URL, got ${describeValue(value)}`);
    }
    return source;
  });
}

export function urlPath() {
  return z.unknown().transform((value, context): string => {
    const source = textOf(value, context, 'a path such as "/metrics"');
    if (source === undefined) return z.NEVER;
    if (!/^\/[\x21-\x7e]*$/.test(source)) {
      return reject(context, value, `expected a path starting with "/", got ${describeValue(value)}`);
    }
    return source;
  });
}

const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/;

/** `http.headers`: header name to a list of values (a single value is taken as a list of one). */
export function headerMap() {
  return z.unknown().transform((value, context): Record<string, string[]> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return reject(
        context,
        value,
        `expected a mapping of header names to lists of values, got ${describeValue(value)}`,
      );
    }
    const headers: Record<string, string[]> = {};
    for (const [name, raw] of Object.entries(value)) {
      if (!headerName.test(name)) {
        context.addIssue({ code: 'custom', message: 'is not a valid HTTP header name', path: [name], input: name });
        continue;
      }
      const list: unknown[] = Array.isArray(raw) ? raw : [raw];
      const values = list.filter((item): item is string => typeof item === 'string' && headerValue.test(item));
      if (values.length !== list.length) {
        context.addIssue({
          code: 'custom',
          message: `expected a list of header values without control characters, got ${describeValue(raw)}`,
          path: [name],
          input: raw,
        });
        continue;
      }
      headers[name] = values;
    }
    return headers;
  });
}

const listSchemas = new WeakSet<z.ZodType>();

/**
 * A YAML list of strings; a single string is a list of one, as a variable such as
 * REGISTRY_HTTP_TLS_CLIENTCAS=/etc/wharf/ca.pem usually says.
 */
export function textList() {
  const schema = z.unknown().transform((value, context): string[] => {
    if (typeof value === 'string') return [value];
    if (!Array.isArray(value)) return reject(context, value, `expected a list of strings, got ${describeValue(value)}`);
    const items: string[] = [];
    value.forEach((item: unknown, index) => {
      if (typeof item === 'string') items.push(item);
      else
        context.addIssue({
          code: 'custom',
          message: `expected a string, got ${describeValue(item)}`,
          path: [index],
          input: item,
        });
    });
    return items;
  });
  listSchemas.add(schema);
  return schema;
}

/** A list of addresses and CIDR ranges (`http.trustedproxies`); see parseAddressRanges. */
export function addressRangeList() {
  const schema = textList().transform((items, context): string[] => {
    items.forEach((item, index) => {
      if (parseAddressRanges(item) === undefined)
        context.addIssue({
          code: 'custom',
          message: `expected an IP address, a CIDR range or loopback, linklocal, uniquelocal; got ${JSON.stringify(item)}`,
          path: [index],
          input: item,
        });
    });
    return items;
  });
  listSchemas.add(schema);
  return schema;
}

/** Whether a leaf (below its default or optional wrapper) is a textList(): variables address its items. */
export function isTextList(schema: z.ZodType): boolean {
  return listSchemas.has(schema);
}
