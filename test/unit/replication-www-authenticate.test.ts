import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWwwAuthenticate } from '../../src/replication/client/www-authenticate.ts';

describe('WWW-Authenticate parsing', () => {
  it('reads a Bearer challenge with quoted parameters, commas inside quotes kept', () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example.com/token',
            service: 'registry.example.com',
            scope: 'repository:team/app:pull,push',
          },
        },
      ],
    );
  });

  it('reads several challenges in one header and across headers, schemes and names lower-cased', () => {
    assert.deepEqual(
      parseWwwAuthenticate(['Basic realm="Registry Realm", Bearer Realm=x,error=insufficient_scope', 'Negotiate']),
      [
        { scheme: 'basic', params: { realm: 'Registry Realm' } },
        { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } },
        { scheme: 'negotiate', params: {} },
      ],
    );
  });

  it('unescapes quoted-pairs and tolerates spaces around "="', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm = "a\\"b\\\\c" , service="s"'), [
      { scheme: 'bearer', params: { realm: 'a"b\\c', service: 's' } },
    ]);
  });

  it('skips a token68 and keeps what it understood of a malformed header', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic dXNlcjpwYXNz=='), [{ scheme: 'basic', params: {} }]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="x", @@@'), [{ scheme: 'bearer', params: { realm: 'x' } }]);
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });
});
