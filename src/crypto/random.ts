import { createHash, randomBytes, randomFillSync } from 'node:crypto';

/**
 * Where every random byte of the stack comes from (client/server randoms, ECDHE private keys, cookie
 * secrets). Passing it in, rather than calling crypto.randomBytes deep inside, lets a test run replay a
 * whole handshake exactly from its seed.
 */
export type RandomSource = (n: number) => Buffer;

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * The production source: OpenSSL's CSPRNG. A handshake asks for a dozen small pieces (randoms,
 * session IDs, nonces); one refill of 4 KiB serves hundreds of them, and each piece handed out is
 * its own copy, used once.
 */
export const systemRandom: RandomSource = (n) => {
  if (n > POOL_SIZE / 4) return randomBytes(n);
  if (poolAt + n > pool.length) {
    if (pool.length === 0) pool = Buffer.allocUnsafeSlow(POOL_SIZE);
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, poolAt, poolAt + n);
  // Bytes handed out are wiped from the pool, so they exist in one place only.
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
};

/**
 * A deterministic byte stream for reproducible tests: block i is SHA-256(seed || uint64(i)), and
 * successive calls continue the same stream (drawing 3 then 5 bytes equals drawing 8 at once).
 * Anyone who knows the seed knows every byte: never use it outside tests.
 */
export function seededRandom(seed: number | string): RandomSource {
  const seedBytes = Buffer.from(String(seed), 'utf8');
  const counterBytes = Buffer.alloc(8);
  let counter = 0n;
  let pending: Buffer = Buffer.alloc(0);

  const nextBlock = (): Buffer => {
    counterBytes.writeBigUInt64BE(counter);
    counter += 1n;
    return createHash('sha256').update(seedBytes).update(counterBytes).digest();
  };

  return (n: number): Buffer => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`seededRandom: bad length ${n}`);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      if (pending.length === 0) pending = nextBlock();
      const take = Math.min(pending.length, n - filled);
      pending.copy(out, filled, 0, take);
      pending = pending.subarray(take);
      filled += take;
    }
    return out;
  };
}
