import { SwitchboardError } from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';

/** No chat node is in the ring. Retryable, because a node joins with its first heartbeat. */
export class RingEmptyError extends SwitchboardError {
  // RETRYABLE_CODES leaves SWB_ERR_RING_EMPTY out, so the base class would mark it final.
  override readonly retryable = true;

  constructor() {
    super(ErrorCode.RingEmpty, 'the ring has no chat node yet, so retry after a short delay', 503);
    this.name = 'RingEmptyError';
  }
}
