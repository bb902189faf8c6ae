import { Upstream, type UpstreamClientOptions } from './upstream.ts';
import { type UpstreamSettings, upstreamKey } from './upstream-settings.ts';

/**
 * One client per upstream and credentials, shared by every cache that names them, so connections
 * and bearer tokens are reused across requests.
 */
export class UpstreamPool {
  private readonly upstreams = new Map<string, Upstream>();

  constructor(private readonly options: UpstreamClientOptions) {}

  get(settings: UpstreamSettings): Upstream {
    const key = upstreamKey(settings);
    let upstream = this.upstreams.get(key);
    if (!upstream) {
      upstream = new Upstream(settings, this.options);
      this.upstreams.set(key, upstream);
    }
    return upstream;
  }

  async close(): Promise<void> {
    const all = [...this.upstreams.values()];
    this.upstreams.clear();
    await Promise.allSettled(all.map((upstream) => upstream.close()));
  }
}
