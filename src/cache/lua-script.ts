import { createHash } from 'node:crypto';

/**
 * A Lua script Redis runs atomically. It is sent by its SHA-1 (EVALSHA) and in full only when the
 * server does not know it yet (after a restart or a failover).
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}
