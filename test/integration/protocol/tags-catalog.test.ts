import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  type HttpResult,
  nextLink,
  pushImage,
  pushManifest,
  send,
  uniqueRepo,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

interface TagList {
  name: string;
  tags: string[];
}

interface Catalog {
  repositories: string[];
}

describe('tags list (end-8a, end-8b) and catalog', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf();
  });
  after(async () => {
    await wharf?.close();
  });

  /** Follows `Link: rel="next"` from `first` to the end; returns every page's result. */
  async function allPages(first: string): Promise<HttpResult[]> {
    const pages: HttpResult[] = [];
    let url: URL | undefined = new URL(first);
    while (url !== undefined) {
      const result = await send(url);
      assert.equal(result.status, 200, `${url}: ${result.text()}`);
      pages.push(result);
      url = nextLink(wharf.url, result);
      assert.ok(pages.length < 1000, 'pagination terminates');
    }
    return pages;
  }

  const sorted = (values: string[]) => [...values].sort();

  describe('tags', () => {
    const repo = uniqueRepo('tags');
    const tags = ['latest', '1.0', 'b', 'a', 'c10', 'c2', 'v1.0-rc.1', '0', 'a_b', 'a.b', 'a-b'];
    const expected = sorted(tags);
    const tagsUrl = (query = '') => `${wharf.url}/v2/${repo}/tags/list${query}`;

    before(async () => {
      const image = await pushImage(wharf.url, repo, tags[0]);
      for (const tag of tags.slice(1)) await pushManifest(wharf.url, repo, tag, image.bytes, image.mediaType);
    });

    it('lists every tag in lexical order with the repository name', async () => {
      const result = await send(tagsUrl());
      assert.equal(result.status, 200);
      assert.match(result.headers.get('content-type') ?? '', /^application\/json\b/);
      assert.deepEqual(result.json<TagList>(), { name: repo, tags: expected });
      assert.equal(nextLink(wharf.url, result), undefined, 'no Link when everything fits');
    });

    it('?n= returns exactly n tags and a Link rel="next" while more remain', async () => {
      const result = await send(tagsUrl('?n=3'));
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<TagList>().tags, expected.slice(0, 3));
      assert.ok(nextLink(wharf.url, result), 'Link rel="next"');
    });

    it('following Link pages returns every tag once, in order', async () => {
      const pages = await allPages(tagsUrl('?n=2'));
      const seen = pages.flatMap((page) => page.json<TagList>().tags);
      assert.deepEqual(seen, expected);
      for (const page of pages.slice(0, -1)) assert.equal(page.json<TagList>().tags.length, 2);
      assert.equal(nextLink(wharf.url, pages.at(-1)!), undefined);
    });

    it('?n=&last= starts after last, non-inclusively', async () => {
      const result = await send(tagsUrl(`?n=2&last=${expected[2]}`));
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<TagList>().tags, expected.slice(3, 5));
    });

    it('?last= alone returns everything after last', async () => {
      const result = await send(tagsUrl(`?last=${expected[6]}`));
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<TagList>().tags, expected.slice(7));
    });

    it('?last= beyond every tag returns an empty list', async () => {
      const result = await send(tagsUrl('?last=zzzz'));
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<TagList>().tags, []);
      assert.equal(nextLink(wharf.url, result), undefined);
    });

    it('?n=0 returns an empty list and no Link', async () => {
      const result = await send(tagsUrl('?n=0'));
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<TagList>(), { name: repo, tags: [] });
      assert.equal(result.headers.get('link'), null);
    });

    it('?n= larger than the tag count returns all tags and no Link', async () => {
      const result = await send(tagsUrl('?n=1000'));
      assert.deepEqual(result.json<TagList>().tags, expected);
      assert.equal(result.headers.get('link'), null);
    });

    it('an invalid n is 400', async () => {
      for (const n of ['-1', 'abc', '1.5', '1e3']) {
        assertError(await send(tagsUrl(`?n=${n}`)), 400, 'PAGINATION_NUMBER_INVALID');
      }
    });
  });

  it('a repository whose manifests have no tags lists an empty tag list', async () => {
    const repo = uniqueRepo('tags-untagged');
    await pushImage(wharf.url, repo);
    const result = await send(`${wharf.url}/v2/${repo}/tags/list`);
    assert.equal(result.status, 200);
    assert.deepEqual(result.json<TagList>(), { name: repo, tags: [] });
  });

  it('tags of an unknown repository are 404 NAME_UNKNOWN', async () => {
    assertError(await send(`${wharf.url}/v2/${uniqueRepo('tags-unknown')}/tags/list`), 404, 'NAME_UNKNOWN');
  });

  describe('catalog', () => {
    const prefix = uniqueRepo('catalog');
    const names = [`${prefix}/c`, `${prefix}/a`, `${prefix}/b/c`, `${prefix}/b`, `${prefix}-z`];
    const mine = sorted(names);

    before(async () => {
      for (const name of names) await pushImage(wharf.url, name, 'v1');
    });

    it('lists repositories in lexical order', async () => {
      const result = await send(`${wharf.url}/v2/_catalog`);
      assert.equal(result.status, 200);
      const { repositories } = result.json<Catalog>();
      assert.deepEqual(repositories, sorted(repositories));
      assert.deepEqual(
        repositories.filter((name) => name.startsWith(prefix)),
        mine,
      );
      assert.equal(new Set(repositories).size, repositories.length, 'no duplicates');
    });

    it('?n=&last= pages through the catalog', async () => {
      const first = await send(`${wharf.url}/v2/_catalog?n=2&last=${encodeURIComponent(mine[0]!)}`);
      assert.equal(first.status, 200);
      assert.deepEqual(first.json<Catalog>().repositories, mine.slice(1, 3));
      assert.ok(nextLink(wharf.url, first), 'Link rel="next"');
    });

    it('following Link pages returns the same list as one request', async () => {
      const whole = (await send(`${wharf.url}/v2/_catalog`)).json<Catalog>().repositories;
      const pages = await allPages(`${wharf.url}/v2/_catalog?n=2`);
      assert.deepEqual(
        pages.flatMap((page) => page.json<Catalog>().repositories),
        whole,
      );
      assert.ok(pages.length >= Math.ceil(whole.length / 2));
    });

    it('?n=0 returns an empty list and no Link', async () => {
      const result = await send(`${wharf.url}/v2/_catalog?n=0`);
      assert.equal(result.status, 200);
      assert.deepEqual(result.json<Catalog>().repositories, []);
      assert.equal(result.headers.get('link'), null);
    });

    it('an invalid n is 400', async () => {
      assertError(await send(`${wharf.url}/v2/_catalog?n=-5`), 400, 'PAGINATION_NUMBER_INVALID');
    });
  });
});
