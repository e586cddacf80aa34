import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * dgram resolves the destination of every send on an unconnected socket (and the address of every
 * bind and connect) through dns.lookup, which even for an IP literal validates its arguments and
 * defers the answer to process.nextTick. A server sends each datagram to the IP literal its peer
 * came from, so that is a tick and two closures per datagram for nothing: literals are answered at
 * once, names still go to dns.lookup. (dgram calls the lookup with the family as a number.)
 */
function literalFirstLookup(hostname: string, options: LookupOneOptions | number, callback: LookupCallback) {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  dnsLookup(hostname, options as LookupOneOptions, callback);
}

/** A UDP socket whose sends to IP literals skip the resolver (see literalFirstLookup). */
export function createUdpSocket(family: 'IPv4' | 'IPv6'): dgram.Socket {
  return dgram.createSocket({
    type: family === 'IPv6' ? 'udp6' : 'udp4',
    lookup: literalFirstLookup as dgram.SocketOptions['lookup'],
  });
}
