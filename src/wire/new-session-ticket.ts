import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * RFC 5077 §3.3:
 *
 *   struct {
 *     uint32 ticket_lifetime_hint;   // seconds; 0 means unspecified
 *     opaque ticket<0..2^16-1>;
 *   } NewSessionTicket;
 *
 * An empty ticket is legal: the server changed its mind about issuing one (RFC 5077 §3.3).
 */
export interface NewSessionTicket {
  ticketLifetimeHint: number;
  ticket: Buffer;
}

export function decodeNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new Reader(body);
  const ticketLifetimeHint = r.u32('ticket_lifetime_hint');
  const ticket = r.vec16('ticket');
  r.expectEnd('NewSessionTicket');
  return { ticketLifetimeHint, ticket };
}

export function encodeNewSessionTicket(x: NewSessionTicket): Buffer {
  return new Writer(6 + x.ticket.length).u32(x.ticketLifetimeHint).vec16(x.ticket).finish();
}
