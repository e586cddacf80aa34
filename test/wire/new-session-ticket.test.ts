import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeNewSessionTicket, encodeNewSessionTicket } from '../../src/wire/new-session-ticket.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 5077 §3.3: lifetime hint 7200 s, 4-byte ticket; and the empty-ticket form.
const NST = hex('00001c20 0004 deadbeef');
const EMPTY = hex('00000000 0000');

test('NewSessionTicket', () => {
  const x = decodeNewSessionTicket(NST);
  assert.equal(x.ticketLifetimeHint, 7200);
  assert.equal(x.ticket.toString('hex'), 'deadbeef');
  assert.equal(decodeNewSessionTicket(EMPTY).ticket.length, 0);
  assert.equal(decodeNewSessionTicket(hex('ffffffff 0000')).ticketLifetimeHint, 0xffffffff);
  assert.throws(() => decodeNewSessionTicket(hex('00001c20 0005 deadbeef')), DecodeError);
  checkPrefixesRejected(decodeNewSessionTicket, NST, 'NewSessionTicket');
  checkCodec({
    label: 'NewSessionTicket',
    decode: decodeNewSessionTicket,
    encode: encodeNewSessionTicket,
    valid: [NST, EMPTY],
    seed: 1200,
  });
});
