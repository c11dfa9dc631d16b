/**
 * Targets the k6 thresholds enforce: the product's latency and recovery targets. The capacity
 * model in docs/capacity.md sizes the fleet on per-node rates that `make bench` measured
 * against them, so a deployed node that misses them has less headroom than the model assumes.
 */

/** p99 from the sender writing `send` to the receiver reading `message`, in milliseconds. */
export const SEND_TO_DELIVER_P99_MS = 50;
/** p99 from writing `send` to reading its `ack` (the log append), in milliseconds. */
export const SEND_TO_ACK_P99_MS = 50;
/** Share of connection attempts that must reach `welcome`. */
export const CONNECT_SUCCESS_RATE = 0.999;
/** p99 from opening the socket to reading `welcome`, in milliseconds. */
export const CONNECT_P99_MS = 1000;
/** After a node is lost, every client must be reconnected and resynced within this time. */
export const RESYNC_P100_MS = 30_000;
/** p99 of one history page request, in milliseconds. */
export const HISTORY_PAGE_P99_MS = 100;
