import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  fastifyLoggingOptions,
  registerMetricsRoute,
  registerObservability,
  setHandlerLabel,
} from '../../src/http/observability-plugin.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A log destination that keeps every JSON line it receives. */
function collectLines() {
  const lines: Record<string, unknown>[] = [];
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString('utf8');
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        lines.push(JSON.parse(pending.slice(0, newline)) as Record<string, unknown>);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      callback();
    },
  });
  return { stream, lines };
}

function buildApp(options: { accessLog?: boolean; level?: string } = {}) {
  const { stream, lines } = collectLines();
  const logger = createLogger(
    { level: options.level ?? 'info', formatter: 'json', fields: { environment: 'test' } },
    stream,
  );
  const metrics = createMetrics();
  const app = Fastify(fastifyLoggingOptions(logger));
  registerObservability(app, { logger, metrics, accessLog: options.accessLog ?? true });
  registerMetricsRoute(app, metrics, '/metrics');

  app.head('/v2/:name/blobs/:digest', { config: { handler: 'blob' } }, async (_request, reply) => {
    return reply.header('content-length', '5').send();
  });
  app.get('/v2/:name/blobs/:digest', { config: { handler: 'blob' } }, async () => 'hello');
  app.get('/v2/:name/stream', { config: { handler: 'blob' } }, async (_request, reply) => {
    const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2), Buffer.from('é')];
    return reply.type('application/octet-stream').send(Readable.from(chunks));
  });
  app.get('/things/:id', async (request) => {
    request.repositoryName = 'team/app';
    request.log.info({ marker: true }, 'inside handler');
    return { ok: true };
  });
  app.get('/fail', { config: { handler: 'fail' } }, async () => {
    throw new Error('exploded');
  });
  app.get('/in-flight', { config: { handler: 'slow' } }, async () => metrics.render());
  return { app, lines, metrics };
}

function accessLines(lines: Record<string, unknown>[]) {
  return lines.filter((line) => line.msg === 'response completed' || line.msg === 'response aborted');
}

function metricLine(text: string, prefix: string): string | undefined {
  return text.split('\n').find((line) => line.startsWith(prefix));
}

describe('request id', () => {
  test('a sane X-Request-Id is echoed back and logged', async () => {
    const { app, lines } = buildApp();
    const response = await app.inject({ url: '/v2/alpine/blobs/x', headers: { 'x-request-id': 'Abc-1.2_3' } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-request-id'], 'Abc-1.2_3');
    assert.equal(accessLines(lines)[0]?.['request.id'], 'Abc-1.2_3');
    await app.close();
  });

  test('a missing id is generated, different for each request', async () => {
    const { app } = buildApp();
    const first = await app.inject({ url: '/v2/a/blobs/x' });
    const second = await app.inject({ url: '/v2/a/blobs/x' });
    const firstId = String(first.headers['x-request-id']);
    assert.match(firstId, uuid);
    assert.match(String(second.headers['x-request-id']), uuid);
    assert.notEqual(firstId, second.headers['x-request-id']);
    await app.close();
  });

  test('ids with unsafe characters or over 128 characters are replaced', async () => {
    const { app } = buildApp();
    for (const unsafe of ['a b', 'a"b', 'x'.repeat(129), 'id\u00e9']) {
      const response = await app.inject({ url: '/v2/a/blobs/x', headers: { 'x-request-id': unsafe } });
      assert.match(String(response.headers['x-request-id']), uuid, unsafe);
    }
    const longest = 'x'.repeat(128);
    const response = await app.inject({ url: '/v2/a/blobs/x', headers: { 'x-request-id': longest } });
    assert.equal(response.headers['x-request-id'], longest);
    await app.close();
  });

  test('the id is on error responses, 404s and handler log lines', async () => {
    const { app, lines } = buildApp();
    const failed = await app.inject({ url: '/fail', headers: { 'x-request-id': 'failing-1' } });
    assert.equal(failed.statusCode, 500);
    assert.equal(failed.headers['x-request-id'], 'failing-1');
    const missing = await app.inject({ url: '/no/such/route', headers: { 'x-request-id': 'missing-1' } });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['x-request-id'], 'missing-1');

    await app.inject({ url: '/things/7', headers: { 'x-request-id': 'handler-1' } });
    const inside = lines.find((line) => line.msg === 'inside handler');
    assert.equal(inside?.['request.id'], 'handler-1');
    await app.close();
  });
});

describe('access log', () => {
  test('one JSON line per request with Distribution-style fields', async () => {
    const { app, lines } = buildApp();
    const response = await app.inject({
      url: '/v2/alpine/blobs/sha256:abc?ns=docker.io',
      headers: { 'user-agent': 'containerd/1.7', 'x-request-id': 'req-1' },
    });
    assert.equal(response.body, 'hello');
    const access = accessLines(lines);
    assert.equal(access.length, 1);
    const line = access[0]!;
    assert.equal(line.level, 'info');
    assert.equal(line.msg, 'response completed');
    assert.equal(line.environment, 'test');
    assert.equal(line['request.id'], 'req-1');
    assert.equal(line['http.request.method'], 'GET');
    assert.equal(line['http.request.uri'], '/v2/alpine/blobs/sha256:abc?ns=docker.io');
    assert.equal(line['http.request.remoteaddr'], '127.0.0.1');
    assert.equal(line['http.request.useragent'], 'containerd/1.7');
    assert.equal(line['http.response.status'], 200);
    assert.equal(line['http.response.written'], 5);
    assert.equal(line['vars.name'], 'alpine');
    assert.equal(typeof line['http.response.duration'], 'number');
    assert.ok((line['http.response.duration'] as number) >= 0);
    assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    await app.close();
  });

  test('streamed bodies without Content-Length are counted byte by byte', async () => {
    const { app, lines } = buildApp();
    const response = await app.inject({ url: '/v2/a/stream' });
    assert.equal(response.rawPayload.length, 3002);
    assert.equal(response.headers['content-length'], undefined);
    assert.equal(accessLines(lines)[0]?.['http.response.written'], 3002);
    await app.close();
  });

  test('HEAD responses write nothing whatever their Content-Length', async () => {
    const { app, lines } = buildApp();
    const response = await app.inject({ method: 'HEAD', url: '/v2/a/blobs/x' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-length'], '5');
    assert.equal(accessLines(lines)[0]?.['http.response.written'], 0);
    await app.close();
  });

  test('a handler can name the repository for the log', async () => {
    const { app, lines } = buildApp();
    await app.inject({ url: '/things/7' });
    assert.equal(accessLines(lines)[0]?.['vars.name'], 'team/app');
    await app.close();
  });

  test('quiet routes log at debug level, so probes and scrapes stay out of info logs', async () => {
    const { app, lines } = buildApp();
    await app.inject({ url: '/metrics' });
    assert.equal(accessLines(lines).length, 0);
    await app.close();

    const verbose = buildApp({ level: 'debug' });
    await verbose.app.inject({ url: '/metrics' });
    const access = accessLines(verbose.lines);
    assert.equal(access.length, 1);
    assert.equal(access[0]?.level, 'debug');
    await verbose.app.close();
  });

  test('accessLog false writes no access lines but still counts', async () => {
    const { app, lines, metrics } = buildApp({ accessLog: false });
    await app.inject({ url: '/v2/a/blobs/x' });
    assert.equal(accessLines(lines).length, 0);
    const text = await metrics.render();
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="blob",code="200"}'),
      'registry_http_requests_total{method="GET",handler="blob",code="200"} 1',
    );
    await app.close();
  });
});

describe('HTTP metrics', () => {
  test('requests are counted by method, handler and code, and /metrics shows them', async () => {
    const { app } = buildApp();
    await app.inject({ url: '/v2/alpine/blobs/a' });
    await app.inject({ url: '/v2/busybox/blobs/b' });
    await app.inject({ method: 'HEAD', url: '/v2/alpine/blobs/a' });
    await app.inject({ url: '/fail' });
    await app.inject({ url: '/things/1' });
    await app.inject({ url: '/things/2' });
    await app.inject({ url: '/nowhere/at/all' });

    const response = await app.inject({ url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = response.body;
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="blob",code="200"}'),
      'registry_http_requests_total{method="GET",handler="blob",code="200"} 2',
    );
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="HEAD",handler="blob",code="200"}'),
      'registry_http_requests_total{method="HEAD",handler="blob",code="200"} 1',
    );
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="fail",code="500"}'),
      'registry_http_requests_total{method="GET",handler="fail",code="500"} 1',
    );
    // Routes without a handler name fall back to their pattern, never the concrete URL.
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="/things/:id",code="200"}'),
      'registry_http_requests_total{method="GET",handler="/things/:id",code="200"} 2',
    );
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="unmatched",code="404"}'),
      'registry_http_requests_total{method="GET",handler="unmatched",code="404"} 1',
    );
    assert.ok(!text.includes('/things/1'));
    assert.ok(!text.includes('/nowhere'));

    assert.equal(
      metricLine(text, 'registry_http_request_duration_seconds_count{method="GET",handler="blob"}'),
      'registry_http_request_duration_seconds_count{method="GET",handler="blob"} 2',
    );
    assert.equal(
      metricLine(text, 'registry_http_response_size_bytes_sum{handler="blob"}'),
      'registry_http_response_size_bytes_sum{handler="blob"} 10',
    );
    assert.equal(
      metricLine(text, 'registry_http_in_flight_requests{handler="blob"}'),
      'registry_http_in_flight_requests{handler="blob"} 0',
    );
    assert.ok(text.includes('process_cpu_user_seconds_total'), 'default Node process metrics are collected');
    await app.close();
  });

  test('a request is in flight while its handler runs', async () => {
    const { app } = buildApp();
    const during = await app.inject({ url: '/in-flight' });
    assert.equal(
      metricLine(during.body, 'registry_http_in_flight_requests{handler="slow"}'),
      'registry_http_in_flight_requests{handler="slow"} 1',
    );
    const after = await app.inject({ url: '/metrics' });
    assert.equal(
      metricLine(after.body, 'registry_http_in_flight_requests{handler="slow"}'),
      'registry_http_in_flight_requests{handler="slow"} 0',
    );
    await app.close();
  });

  test('a catch-all route can name the endpoint once it knows it', async () => {
    const { app, lines, metrics } = buildApp();
    app.get('/v2/*', async (request) => {
      setHandlerLabel(request, 'manifest');
      request.repositoryName = 'library/alpine';
      return metrics.render();
    });
    const during = await app.inject({ url: '/v2/library/alpine/manifests/latest' });
    assert.equal(
      metricLine(during.body, 'registry_http_in_flight_requests{handler="manifest"}'),
      'registry_http_in_flight_requests{handler="manifest"} 1',
    );
    assert.equal(
      metricLine(during.body, 'registry_http_in_flight_requests{handler="/v2/*"}'),
      'registry_http_in_flight_requests{handler="/v2/*"} 0',
    );
    const text = await metrics.render();
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="manifest",code="200"}'),
      'registry_http_requests_total{method="GET",handler="manifest",code="200"} 1',
    );
    assert.equal(
      metricLine(text, 'registry_http_in_flight_requests{handler="manifest"}'),
      'registry_http_in_flight_requests{handler="manifest"} 0',
    );
    assert.equal(accessLines(lines)[0]?.['vars.name'], 'library/alpine');
    await app.close();
  });

  test('request size is the declared Content-Length', async () => {
    const { app, metrics } = buildApp();
    app.put('/upload', { config: { handler: 'blob_upload' } }, async () => 'stored');
    await app.inject({
      method: 'PUT',
      url: '/upload',
      payload: 'x'.repeat(300),
      headers: { 'content-type': 'text/plain' },
    });
    const text = await metrics.render();
    assert.equal(
      metricLine(text, 'registry_http_request_size_bytes_sum{handler="blob_upload"}'),
      'registry_http_request_size_bytes_sum{handler="blob_upload"} 300',
    );
    await app.close();
  });

  test('a client hanging up mid-download is logged, counted and leaves nothing in flight', async () => {
    const { app, lines, metrics } = buildApp();
    let release: () => void = () => {};
    const served = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.get('/v2/:name/endless', { config: { handler: 'blob' } }, async (_request, reply) => {
      const body = new Readable({ read() {} });
      body.push(Buffer.alloc(64 * 1024));
      setImmediate(release);
      return reply.send(body);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;

    await new Promise<void>((resolve, reject) => {
      const client = httpRequest({ host: '127.0.0.1', port, path: '/v2/big/endless' }, (response) => {
        response.once('data', () => {
          client.destroy();
          resolve();
        });
      });
      client.on('error', (error) => {
        if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
      });
      client.end();
    });
    await served;
    const deadline = Date.now() + 2000;
    while (accessLines(lines).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

    const line = accessLines(lines)[0];
    assert.equal(line?.msg, 'response aborted');
    assert.equal(line?.['vars.name'], 'big');
    const text = await metrics.render();
    assert.equal(
      metricLine(text, 'registry_http_in_flight_requests{handler="blob"}'),
      'registry_http_in_flight_requests{handler="blob"} 0',
    );
    assert.equal(
      metricLine(text, 'registry_http_requests_total{method="GET",handler="blob",code="200"}'),
      'registry_http_requests_total{method="GET",handler="blob",code="200"} 1',
    );
    await app.close();
  });
});

describe('metrics registry', () => {
  test('each Metrics has its own registry, separate from the global one', async () => {
    const first: Metrics = createMetrics();
    const second: Metrics = createMetrics();
    first.observeHttpRequest({
      method: 'GET',
      handler: 'base',
      status: 200,
      durationSeconds: 0.01,
      requestBytes: 0,
      responseBytes: 2,
    });
    assert.ok(
      (await first.render()).includes('registry_http_requests_total{method="GET",handler="base",code="200"} 1'),
    );
    assert.ok(!(await second.render()).includes('handler="base"'));
  });
});
