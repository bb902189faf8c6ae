import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger, formatTextLine } from '../../src/observability/logger.ts';

function collectText() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('json formatter', () => {
  test('one object per line with ISO time, level label and the static fields', () => {
    const { stream, text } = collectText();
    const logger = createLogger(
      { level: 'info', formatter: 'json', fields: { service: 'registry', env: 'prod' } },
      stream,
    );
    logger.info({ 'request.id': 'r1', 'http.response.status': 201 }, 'response completed');
    logger.warn('disk almost full');

    const lines = text().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(first).sort(), [
      'env',
      'http.response.status',
      'level',
      'msg',
      'request.id',
      'service',
      'time',
    ]);
    assert.equal(first.level, 'info');
    assert.equal(first.msg, 'response completed');
    assert.equal(first.service, 'registry');
    assert.equal(first['http.response.status'], 201);
    assert.match(String(first.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>).level, 'warn');
  });

  test('the level filters lines, and Distribution spellings are accepted', () => {
    const { stream, text } = collectText();
    const logger = createLogger({ level: 'warning', formatter: 'json', fields: {} }, stream);
    logger.info('dropped');
    logger.debug('dropped');
    logger.warn('kept');
    logger.error('kept too');
    const levels = text()
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { level: string }).level);
    assert.deepEqual(levels, ['warn', 'error']);
  });

  test('an unknown level is refused', () => {
    assert.throws(() => createLogger({ level: 'loud', formatter: 'json', fields: {} }, collectText().stream));
  });
});

describe('text formatter', () => {
  test('one uncoloured line per entry with key=value pairs', () => {
    const { stream, text } = collectText();
    const logger = createLogger({ level: 'info', formatter: 'text', fields: { env: 'dev' } }, stream);
    logger.info({ 'request.id': 'r1', 'http.request.uri': '/v2/a b/tags/list', 'http.response.written': 12 }, 'done');
    logger.error({ err: new Error('first\nsecond') }, 'failed');

    const lines = text().split('\n');
    assert.equal(lines.length, 3, text());
    assert.equal(lines[2], '');
    assert.match(
      lines[0]!,
      /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] INFO: done env=dev request\.id=r1 http\.request\.uri="\/v2\/a b\/tags\/list" http\.response\.written=12$/,
    );
    assert.match(
      lines[1]!,
      /^\[[^\]]+\] ERROR: failed env=dev err\.type=Error err\.message="first\\nsecond" err\.stack="Error: first\\nsecond\\n/,
    );
    assert.ok(!text().includes('\u001b['), 'no ANSI colours on a non-TTY destination');
  });

  test('formatTextLine quotes only values that need it and flattens objects', () => {
    assert.equal(
      formatTextLine({
        msg: 'hi',
        a: 'plain',
        b: 'has space',
        c: 'q"uote',
        d: { e: 1, f: { g: true } },
        h: null,
        i: [1, 2],
      }),
      'hi a=plain b="has space" c="q\\"uote" d.e=1 d.f.g=true h=null i=[1,2]',
    );
    assert.equal(formatTextLine({ msg: 'line one\nline two' }), 'line one\\nline two');
  });
});
