import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../../config/config.ts';
import { RequestRateLimiter } from './request-rate-limiter.ts';

/**
 * Connections to the store: every upload's PATCH, every download streamed through Wharf and every
 * concurrent part copy holds one, so the SDK's default of 50 would queue requests under load.
 */
const maxSockets = 1024;

/** The endpoint URL for `regionendpoint`, which Distribution also accepts as a bare `host:port`. */
export function endpointUrl(regionEndpoint: string, secure: boolean): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(regionEndpoint)
    ? regionEndpoint
    : `${secure ? 'https' : 'http'}://${regionEndpoint}`;
}

/**
 * The S3 client for `storage.s3`. Checksums only where S3 requires them: the SDK's default
 * streaming-trailer checksums are refused by several S3-compatible stores (Ceph RGW among them);
 * part uploads carry Content-MD5 instead (see S3Bucket.put).
 */
export function createS3Client(config: S3StorageConfig): S3Client {
  // The SDK is pinned to releases that support Node 20; its warning about later releases would
  // only be noise on stderr, outside the structured log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const explicitCredentials =
    config.accesskey !== undefined && config.accesskey !== '' && config.secretkey !== undefined;
  const client = new S3Client({
    region: config.region,
    endpoint: config.regionendpoint === undefined ? undefined : endpointUrl(config.regionendpoint, config.secure),
    tls: config.secure,
    forcePathStyle: config.forcepathstyle,
    credentials: explicitCredentials
      ? {
          accessKeyId: config.accesskey ?? '',
          secretAccessKey: config.secretkey ?? '',
          sessionToken: config.sessiontoken === '' ? undefined : config.sessiontoken,
        }
      : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: 10_000,
      // Idle time on the socket, not total time: a download paused by a slow client waits this long.
      requestTimeout: 300_000,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets, rejectUnauthorized: !config.skipverify }),
    },
  });
  if (config.maxrequestspersecond > 0) {
    const limiter = new RequestRateLimiter(config.maxrequestspersecond);
    // Below the retry middleware, so every attempt (retries included) takes a slot.
    client.middlewareStack.add(
      (next) => async (args) => {
        await limiter.acquire();
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'wharfRequestRateLimit' },
    );
  }
  return client;
}
