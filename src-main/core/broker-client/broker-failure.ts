import type { ErrorBody } from '../broker-api/schema.js';

/**
 * Why a request to the broker gave no usable answer:
 * - answer: the broker said no (or could not do it) with an API error body: relayed unchanged;
 * - unreachable: no broker URL answered (connection, timeout, or a 5xx that is not the broker's);
 * - certificate: a broker's certificate did not verify against broker.caFile or the trusted roots;
 * - malformed: an answer that is not what API v1 promises;
 * - ca-file: broker.caFile cannot be read.
 */
export type BrokerFailureKind = 'answer' | 'unreachable' | 'certificate' | 'malformed' | 'ca-file';

export interface UrlFailure {
  url: string;
  reason: string;
}

export class BrokerFailure extends Error {
  constructor(
    readonly kind: BrokerFailureKind,
    message: string,
    readonly details: {
      /** The URL whose failure this is (the last one tried for 'unreachable'). */
      url: string;
      /** Every URL tried and why it failed, in order. */
      tried: UrlFailure[];
      status?: number;
      /** The broker's error body, for 'answer'. */
      error?: ErrorBody['error'];
    },
  ) {
    super(message);
    this.name = 'BrokerFailure';
  }
}
