import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseGoDuration, parseListenAddress } from '../../src/config/index.ts';

describe('parseGoDuration', () => {
  it('reads Go duration strings as milliseconds', () => {
    const cases: [string, number][] = [
      ['10s', 10_000],
      ['168h', 604_800_000],
      ['1h30m', 5_400_000],
      ['300ms', 300],
      ['1.5h', 5_400_000],
      ['.5s', 500],
      ['2m3.5s', 123_500],
      ['1500us', 1.5],
      ['1500µs', 1.5],
      ['1500μs', 1.5],
      ['2000000ns', 2],
      ['0', 0],
      ['+5s', 5000],
      ['-2m', -120_000],
    ];
    for (const [text, milliseconds] of cases) assert.equal(parseGoDuration(text), milliseconds, text);
  });

  it('refuses what Go refuses', () => {
    for (const text of ['', '10', '1h30', 's', '.s', '10 s', '10sec', '1d', '1.2.3s', '-', 'ten seconds', '5S']) {
      assert.equal(parseGoDuration(text), undefined, text);
    }
  });
});

describe('parseListenAddress', () => {
  it('splits host and port', () => {
    assert.deepEqual(parseListenAddress(':5000'), { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('localhost:5000'), { host: 'localhost', port: 5000 });
    assert.deepEqual(parseListenAddress('registry.internal:443'), { host: 'registry.internal', port: 443 });
    assert.deepEqual(parseListenAddress('[::1]:5000'), { host: '::1', port: 5000 });
    assert.deepEqual(parseListenAddress('[::]:65535'), { host: '::', port: 65535 });
  });

  it('refuses bad addresses with a ConfigError naming http.addr', () => {
    const bad = [
      '',
      '5000',
      'localhost',
      ':',
      ':65536',
      ':http',
      ':-1',
      '::1:5000',
      '[::1]',
      '[nope]:5000',
      '1.2.3.999:80',
      'bad host:80',
      'a_b:80',
    ];
    for (const addr of bad) {
      assert.throws(
        () => parseListenAddress(addr),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, addr);
          assert.ok(
            error.message.startsWith(`http.addr: invalid listen address ${JSON.stringify(addr)}: `),
            error.message,
          );
          return true;
        },
      );
    }
  });

  it('names another key when asked', () => {
    assert.throws(
      () => parseListenAddress('nope', 'http.debug.addr'),
      /^ConfigError: http\.debug\.addr: invalid listen address/,
    );
  });
});
