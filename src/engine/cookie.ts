import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RandomSource } from '../crypto/random.js';
import { replaceClientHelloCookie } from '../wire/client-hello.js';

export const COOKIE_LENGTH = 32;

/**
 * The stateless HelloVerifyRequest cookie (RFC 6347 §4.2.1): an HMAC over the client's address and
 * its ClientHello with the cookie field emptied, under a secret that rotates every `rotationMs`. The
 * server stores nothing per client: a returning cookie is recomputed and compared. Cookies from the
 * previous period still pass, so a rotation never breaks a handshake in flight. Several server
 * processes that share `secret` (and a clock) accept one another's cookies.
 */
export class CookieJar {
  private readonly secret: Buffer;
  private cache: { period: number; key: Buffer }[] = [];

  constructor(
    secret: Buffer | undefined,
    random: RandomSource,
    private readonly rotationMs = 60_000,
  ) {
    this.secret = secret ?? random(32);
  }

  private keyFor(period: number): Buffer {
    const hit = this.cache.find((c) => c.period === period);
    if (hit) return hit.key;
    const p = Buffer.alloc(8);
    p.writeBigUInt64BE(BigInt(Math.max(0, period)));
    const key = createHmac('sha256', this.secret).update('tsdtls cookie period').update(p).digest();
    this.cache = [{ period, key }, ...this.cache].slice(0, 2);
    return key;
  }

  private compute(period: number, peer: string, helloBody: Uint8Array): Buffer {
    const stripped = replaceClientHelloCookie(helloBody, Buffer.alloc(0));
    return createHmac('sha256', this.keyFor(period)).update(peer).update('\0').update(stripped).digest();
  }

  /** The cookie to send in a HelloVerifyRequest now. */
  issue(now: number, peer: string, helloBody: Uint8Array): Buffer {
    return this.compute(Math.floor(now / this.rotationMs), peer, helloBody);
  }

  /** True when `cookie` was issued to this peer for this ClientHello in this or the previous period. */
  verify(now: number, peer: string, helloBody: Uint8Array, cookie: Uint8Array): boolean {
    if (cookie.length !== COOKIE_LENGTH) return false;
    const period = Math.floor(now / this.rotationMs);
    for (const p of [period, period - 1]) {
      if (timingSafeEqual(this.compute(p, peer, helloBody), cookie)) return true;
    }
    return false;
  }
}
