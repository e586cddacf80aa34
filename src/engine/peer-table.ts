/**
 * The server endpoint's established peers, found by address and port. Every datagram looks its peer
 * up, so the lookup builds nothing: a key string per datagram (`${address}|${port}`) cost about 0.1 µs
 * (a new string, flattened and hashed before the map could use it), about 1% of receiving a 1,200-byte
 * record. Peers are indexed by port; the usual single peer on a port is held directly and told apart by
 * its address, and only ports that several addresses share get a map of their own.
 */

/** What the table needs of an entry: the address it was registered under. */
export interface PeerEntry {
  readonly peer: { readonly address: string; readonly port: number };
}

export class PeerTable<T extends PeerEntry> {
  private readonly byPort = new Map<number, T | Map<string, T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(address: string, port: number): T | undefined {
    const e = this.byPort.get(port);
    if (e === undefined) return undefined;
    if (e instanceof Map) return e.get(address);
    return e.peer.address === address ? e : undefined;
  }

  /** Adds `entry` under its peer's address and port, replacing whatever was there. */
  set(entry: T): void {
    const { address, port } = entry.peer;
    const e = this.byPort.get(port);
    if (e === undefined) {
      this.byPort.set(port, entry);
      this.count++;
    } else if (e instanceof Map) {
      if (!e.has(address)) this.count++;
      e.set(address, entry);
    } else if (e.peer.address === address) {
      this.byPort.set(port, entry);
    } else {
      this.byPort.set(
        port,
        new Map([
          [e.peer.address, e],
          [address, entry],
        ]),
      );
      this.count++;
    }
  }

  /** Removes `entry` if it is the one registered under its peer's address and port. */
  delete(entry: T): void {
    const { address, port } = entry.peer;
    const e = this.byPort.get(port);
    if (e === undefined) return;
    if (e instanceof Map) {
      if (e.get(address) !== entry) return;
      e.delete(address);
      this.count--;
      // Back to the direct form once one address is left on the port.
      if (e.size === 1) this.byPort.set(port, e.values().next().value!);
    } else if (e === entry) {
      this.byPort.delete(port);
      this.count--;
    }
  }

  /** Every entry, as a new array (callers may change the table while they walk it). */
  values(): T[] {
    const out: T[] = [];
    for (const e of this.byPort.values()) {
      if (e instanceof Map) for (const x of e.values()) out.push(x);
      else out.push(e);
    }
    return out;
  }
}
