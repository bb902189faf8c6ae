import assert from 'node:assert/strict';
import { createHmac, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { type UploadState, UploadStateSigner } from '../../src/http/v2/upload-state.ts';
import { RegistryError } from '../../src/oci/errors.ts';

const state: UploadState = {
  name: 'team/app',
  id: '0b6b1f3e-5a43-4d1e-9a43-6f1c2b7d9e10',
  offset: 1024,
  startedAt: 1_700_000_000_000,
};

function assertInvalid(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, 'BLOB_UPLOAD_INVALID');
    assert.equal(error.status, 404);
    assert.match(error.message, message);
    return true;
  });
}

function query(token: string): URLSearchParams {
  return new URLSearchParams({ _state: token });
}

describe('UploadStateSigner', () => {
  const signer = new UploadStateSigner('shared secret');

  it('opens what it signed, and what another signer with the same secret signed', () => {
    const token = signer.sign(state);
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(signer.open(token), state);
    assert.deepEqual(new UploadStateSigner('shared secret').open(token), state);
  });

  it('refuses a token signed with another secret', () => {
    const token = new UploadStateSigner('another secret').sign(state);
    assert.equal(signer.open(token), undefined);
    assertInvalid(() => signer.verify(query(token), state.name, state.id), /not one this registry issued/);
  });

  it('refuses an altered body, an altered signature and malformed tokens', () => {
    const [body, signature] = signer.sign(state).split('.') as [string, string];
    const forgedBody = Buffer.from(JSON.stringify({ ...state, name: 'other/app' })).toString('base64url');
    assert.equal(signer.open(`${forgedBody}.${signature}`), undefined);
    const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    assert.equal(signer.open(`${body}.${flipped}`), undefined);
    for (const token of ['', body, `${body}.`, `${body}.${signature}.x`, `.${signature}`, 'not a token']) {
      assert.equal(signer.open(token), undefined, JSON.stringify(token));
    }
  });

  it('derives its key from the secret with HKDF-SHA256 and refuses signed payloads of the wrong shape', () => {
    const key = Buffer.from(hkdfSync('sha256', 'shared secret', 'wharf', 'upload state', 32));
    const signed = (payload: unknown) => {
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
    };
    assert.deepEqual(signer.open(signed(state)), state);
    assert.deepEqual(signer.open(signed({ ...state, extra: true })), state);
    for (const shape of [{ ...state, offset: '1024' }, { ...state, id: 7 }, { ...state, offset: 1.5 }, [state], null]) {
      assert.equal(signer.open(signed(shape)), undefined, JSON.stringify(shape));
    }
  });

  it('accepts a request without a state and checks the upload and repository of one with it', () => {
    assert.equal(signer.verify(new URLSearchParams(), state.name, state.id), undefined);
    const token = signer.sign(state);
    assert.deepEqual(signer.verify(query(token), state.name, state.id), state);
    assert.throws(
      () => signer.verify(query(token), 'team/other', state.id),
      (error: unknown) =>
        error instanceof RegistryError && error.code === 'BLOB_UPLOAD_UNKNOWN' && error.status === 404,
      'an upload of another repository is unknown in this one',
    );
    assertInvalid(
      () => signer.verify(query(token), state.name, 'f2c7a1d4-0000-4000-8000-000000000000'),
      /another upload/,
    );
  });

  it('refuses an empty state and a repeated one', () => {
    assertInvalid(() => signer.verify(query(''), state.name, state.id), /not one this registry issued/);
    const token = signer.sign(state);
    const twice = new URLSearchParams([
      ['_state', token],
      ['_state', token],
    ]);
    assertInvalid(() => signer.verify(twice, state.name, state.id), /not one this registry issued/);
  });
});
