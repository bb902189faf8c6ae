import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger } from 'pino';

export type LogFormatter = 'text' | 'json';

export interface LoggerSettings {
  /** error, warn, info, debug or trace (Distribution's `warning` and `panic` are accepted too). */
  level: string;
  formatter: LogFormatter;
  /** Static fields added to every line, Distribution's `log.fields`. */
  fields: Record<string, string>;
}

/** Level names Distribution (logrus) accepts that pino spells differently. */
const levelAliases: Record<string, string> = { warning: 'warn', panic: 'fatal' };

/** Keys the text formatter prints in its prefix, not among the key=value pairs. */
const prefixKeys = new Set(['time', 'level', 'msg']);

/**
 * The one logger of the process. `json` writes one object per line (for log shippers); `text`
 * writes one human-readable line per entry, `key=value` pairs like Distribution's text formatter.
 * JSON goes through pino's asynchronous stdout writer (flushed on exit, crash included), so a slow
 * log consumer never blocks requests; text is for people at a terminal and is written synchronously.
 */
export function createLogger(settings: LoggerSettings, destination?: NodeJS.WritableStream): Logger {
  const level = levelAliases[settings.level] ?? settings.level;
  const options: LoggerOptions = {
    level,
    // Replaces pino's default pid/hostname: operators choose their static fields in `log.fields`.
    base: { ...settings.fields },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (settings.formatter === 'json') {
    // Labels, not pino's numbers, so lines read like Distribution's ("level":"info").
    options.formatters = { level: (label) => ({ level: label }) };
    return destination ? pino(options, destination as DestinationStream) : pino(options);
  }
  return pino(options, textStream(destination));
}

function textStream(destination: NodeJS.WritableStream | undefined): DestinationStream {
  return PinoPretty({
    destination: destination ?? 1,
    sync: true,
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    // messageFormat puts every field on the message line; pino-pretty's singleLine would drop its newline.
    hideObject: true,
    messageFormat: (entry, messageKey) => formatTextLine(entry, messageKey),
  });
}

/** The message followed by every other field as `key=value`, nested objects flattened to dotted keys. */
export function formatTextLine(entry: Record<string, unknown>, messageKey = 'msg'): string {
  const message = entry[messageKey];
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (key === messageKey || prefixKeys.has(key)) continue;
    appendPairs(pairs, key, value);
  }
  const text = typeof message === 'string' ? message.replace(/\r?\n/g, '\\n') : '';
  return pairs.length === 0 ? text : `${text} ${pairs.join(' ')}`;
}

function appendPairs(pairs: string[], key: string, value: unknown): void {
  if (value === undefined) return;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [child, childValue] of Object.entries(value)) appendPairs(pairs, `${key}.${child}`, childValue);
    return;
  }
  pairs.push(`${key}=${formatValue(value)}`);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) {
    return String(value);
  }
  return JSON.stringify(value) ?? String(value);
}
