import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobOf, errorCode, expectStatus, randomBlob, verifyBlob } from '../helpers/push.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/** Upload Locations carry `_state`, signed with a key derived from http.secret (docs/high-availability.md). */

interface State {
  name: string;
  id: string;
  offset: number;
  startedAt: number;
}

const secret = 'upload-state-test-secret';

function stateOf(location: URL): State {
  const tokens = location.searchParams.getAll('_state');
  assert.equal(tokens.length, 1, `one _state in ${location}`);
  const [body] = (tokens[0] ?? '').split('.');
  return JSON.parse(Buffer.from(body ?? '', 'base64url').toString('utf8')) as State;
}

function locationOf(base: string, response: Response): URL {
  const location = response.headers.get('location');
  assert.ok(location, `${response.status} answer has a Location`);
  return new URL(location, base);
}

/** The same Location on another instance: the client only ever follows what it was given. */
function on(base: string, location: URL): URL {
  return new URL(`${location.pathname}${location.search}`, base);
}

function withState(location: URL, token: string | undefined): URL {
  const url = new URL(location);
  if (token === undefined) url.searchParams.delete('_state');
  else url.searchParams.set('_state', token);
  return url;
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

async function post(base: string, repo: string): Promise<URL> {
  const response = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(response, 202, `POST upload in ${repo}`);
  return locationOf(base, response);
}

async function patch(location: URL, chunk: Buffer, start: number): Promise<Response> {
  return fetch(location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}` },
    body: chunk,
  });
}

async function assertInvalidState(response: Response, what: string): Promise<void> {
  assert.equal(response.status, 404, `${what}: status`);
  assert.equal(await errorCode(response), 'BLOB_UPLOAD_INVALID', `${what}: error code`);
}

describe('signed upload state', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_HTTP_SECRET: secret } });
  });
  after(async () => {
    await wharf?.close();
  });

  it('gives every Location of an upload a fresh state: POST, PATCH, GET, then PUT commits', async () => {
    const repo = 'state/fresh';
    const blob = randomBlob(3000);
    const before = Date.now();
    const started = await post(wharf.url, repo);
    const first = stateOf(started);
    assert.equal(first.name, repo);
    assert.match(started.pathname, new RegExp(`^/v2/${repo}/blobs/uploads/${first.id}$`));
    assert.equal(first.offset, 0);
    assert.ok(first.startedAt >= before && first.startedAt <= Date.now(), 'startedAt is the time of the POST');

    const patched = await patch(started, blob.bytes.subarray(0, 1000), 0);
    await expectStatus(patched, 202, 'PATCH');
    const afterPatch = locationOf(wharf.url, patched);
    assert.deepEqual(stateOf(afterPatch), { ...first, offset: 1000 });
    assert.notEqual(afterPatch.searchParams.get('_state'), started.searchParams.get('_state'));

    const second = await patch(afterPatch, blob.bytes.subarray(1000), 1000);
    await expectStatus(second, 202, 'second PATCH');
    const status = await fetch(locationOf(wharf.url, second));
    await expectStatus(status, 204, 'GET upload status');
    assert.equal(status.headers.get('range'), '0-2999');
    assert.deepEqual(stateOf(locationOf(wharf.url, status)), { ...first, offset: 3000 });

    const put = await fetch(withDigest(locationOf(wharf.url, status), blob.digest), { method: 'PUT' });
    await expectStatus(put, 201, 'PUT');
    await verifyBlob(wharf.url, repo, { mediaType: 'application/octet-stream', digest: blob.digest, size: 3000 });
  });

  it('accepts requests without a state: the session decides', async () => {
    const repo = 'state/absent';
    const blob = randomBlob(500);
    const bare = withState(await post(wharf.url, repo), undefined);
    const patched = await patch(bare, blob.bytes, 0);
    await expectStatus(patched, 202, 'PATCH without _state');
    assert.equal(stateOf(locationOf(wharf.url, patched)).offset, 500, 'the answer carries a state again');
    const put = await fetch(withDigest(bare, blob.digest), { method: 'PUT' });
    await expectStatus(put, 201, 'PUT without _state');
  });

  it('answers from a stale state (a lost response) with the real offset', async () => {
    const repo = 'state/stale';
    const blob = randomBlob(800);
    const started = await post(wharf.url, repo);
    await expectStatus(await patch(started, blob.bytes.subarray(0, 300), 0), 202, 'PATCH');
    // The client never saw that answer and asks where the upload is, with the POST's Location.
    const status = await fetch(started);
    await expectStatus(status, 204, 'GET with the offset-0 state');
    assert.equal(status.headers.get('range'), '0-299');
    const retried = await patch(started, blob.bytes.subarray(0, 300), 0);
    assert.equal(retried.status, 416, 'the chunk already there is refused by offset, not by state');
    assert.equal(retried.headers.get('range'), '0-299');
    await retried.arrayBuffer();
    const rest = await patch(locationOf(wharf.url, status), blob.bytes.subarray(300), 300);
    await expectStatus(rest, 202, 'PATCH the rest');
    await expectStatus(await fetch(withDigest(started, blob.digest), { method: 'PUT' }), 201, 'PUT');
  });

  it('refuses an altered state on PATCH, GET, PUT and DELETE, and the upload survives it', async () => {
    const repo = 'state/altered';
    const blob = randomBlob(200);
    const started = await post(wharf.url, repo);
    const [body, signature] = (started.searchParams.get('_state') ?? '').split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as State;
    const altered = Buffer.from(JSON.stringify({ ...claims, offset: 100 })).toString('base64url');
    const forgedState = withState(started, `${altered}.${signature}`);
    const flipped = withState(started, `${body}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`);
    const garbage = withState(started, 'garbage');

    for (const location of [forgedState, flipped, garbage]) {
      await assertInvalidState(await patch(location, blob.bytes, 0), `PATCH ${location.search}`);
      await assertInvalidState(await fetch(location), `GET ${location.search}`);
      await assertInvalidState(
        await fetch(withDigest(location, blob.digest), { method: 'PUT', body: blob.bytes }),
        `PUT ${location.search}`,
      );
      await assertInvalidState(await fetch(location, { method: 'DELETE' }), `DELETE ${location.search}`);
    }
    const status = await fetch(started);
    await expectStatus(status, 204, 'GET with the genuine state');
    assert.equal(status.headers.get('range'), '0-0', 'no byte of the refused requests was staged');
    const put = await fetch(withDigest(started, blob.digest), { method: 'PUT', body: blob.bytes });
    await expectStatus(put, 201, 'PUT with the genuine state');
  });

  it("refuses another upload's state, and another repository's upload", async () => {
    const first = await post(wharf.url, 'state/one');
    const second = await post(wharf.url, 'state/one');
    const swapped = withState(second, first.searchParams.get('_state') ?? '');
    await assertInvalidState(await fetch(swapped), "GET with another upload's state");

    // The state proves the upload is another repository's: unknown here, as the session row says.
    const elsewhere = new URL(first.toString().replace('/v2/state/one/', '/v2/state/two/'));
    for (const url of [elsewhere, withState(elsewhere, undefined)]) {
      const unknown = await patch(url, Buffer.from('intruder'), 0);
      assert.equal(unknown.status, 404);
      assert.equal(await errorCode(unknown), 'BLOB_UPLOAD_UNKNOWN', `PATCH ${url.search}`);
    }
    await expectStatus(await fetch(first), 204, 'the upload is untouched in its own repository');
  });
});

describe('http.secret across instances', () => {
  let first: WharfProcess;
  let sameSecret: WharfProcess;
  let ownSecret: WharfProcess;
  before(async () => {
    first = await startWharf({ env: { REGISTRY_HTTP_SECRET: secret } });
    // Same data directory and database: only the secret differs.
    [sameSecret, ownSecret] = await Promise.all([
      startWharf({ dataDir: first.dataDir, env: { REGISTRY_HTTP_SECRET: secret } }),
      startWharf({ dataDir: first.dataDir }),
    ]);
  });
  after(async () => {
    await ownSecret?.stop();
    await sameSecret?.stop();
    await first?.close();
  });

  it('continues an upload on an instance sharing the secret and is refused by one without it', async () => {
    const blob = blobOf(Buffer.from('state carried from one instance to the next'));
    const started = await post(first.url, 'state/shared');
    await assertInvalidState(await patch(on(ownSecret.url, started), blob.bytes, 0), 'PATCH on an instance of its own');
    const patched = await patch(on(sameSecret.url, started), blob.bytes, 0);
    await expectStatus(patched, 202, 'PATCH on an instance sharing http.secret');
    const put = await fetch(withDigest(on(first.url, locationOf(sameSecret.url, patched)), blob.digest), {
      method: 'PUT',
    });
    await expectStatus(put, 201, 'PUT back on the first instance');
  });

  it('says at start when http.secret is not set, and only then', () => {
    assert.match(ownSecret.output(), /http\.secret is not set/);
    assert.doesNotMatch(first.output(), /http\.secret is not set/);
  });
});

describe('without http.secret', () => {
  let dataDir: string;
  after(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the generated secret in the storage root, so Locations outlive a restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-state-restart-'));
    const blob = blobOf(Buffer.from('an upload that outlives its server process'));
    const before = await startWharf({ dataDir });
    let location: URL;
    try {
      location = await post(before.url, 'state/restart');
      const patched = await patch(location, blob.bytes.subarray(0, 10), 0);
      await expectStatus(patched, 202, 'PATCH before the restart');
      location = locationOf(before.url, patched);
    } finally {
      await before.stop();
    }
    assert.match(
      before.output(),
      /http\.secret is not set: upload URLs are signed with the secret kept in .*http-secret/,
    );
    const file = await stat(join(dataDir, 'http-secret'));
    assert.equal(file.mode & 0o777, 0o600, 'the secret file is private');

    const restarted = await startWharf({ dataDir });
    try {
      const rest = await patch(on(restarted.url, location), blob.bytes.subarray(10), 10);
      await expectStatus(rest, 202, 'PATCH after the restart with the Location from before');
      const put = await fetch(withDigest(on(restarted.url, locationOf(restarted.url, rest)), blob.digest), {
        method: 'PUT',
      });
      await expectStatus(put, 201, 'PUT after the restart');
    } finally {
      await restarted.stop();
    }
  });
});
