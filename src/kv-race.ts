import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

/**
 * A compare-and-set write of a KV key lost to another writer: JetStream's "wrong last sequence"
 * (a `create` of a key that exists, an `update` against a revision that is not the last), by
 * its API code.
 */
export function isLostRace(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
