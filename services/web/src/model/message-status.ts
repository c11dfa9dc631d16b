/**
 * Delivery status of one of the user's own messages, shown as ticks.
 *
 * - `sending`: in the outbox, not acknowledged yet.
 * - `sent`: acknowledged: the message is in the durable log.
 * - `delivered`: every other member's delivered watermark reached it.
 * - `read`: every other member's read watermark reached it.
 * - `failed`: the node rejected it for good (for example a body above the size limit).
 */
export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';

/** Watermarks of one member: every message up to each number was delivered to, or read by, them. */
export interface Watermarks {
  deliveredSeq: number;
  readSeq: number;
}

/**
 * Computes the status of an acknowledged message with sequence number `seq` from the
 * watermarks of the other members.
 *
 * A group message counts as delivered or read only when every other member got that far,
 * so the same rule serves one-to-one and group conversations. A read watermark implies
 * delivery, because a receipt of either kind may arrive first.
 */
export function computeStatus(seq: number, others: readonly Watermarks[]): MessageStatus {
  if (others.length === 0) return 'sent';
  if (others.every((member) => member.readSeq >= seq)) return 'read';
  if (others.every((member) => Math.max(member.deliveredSeq, member.readSeq) >= seq)) return 'delivered';
  return 'sent';
}

/** Labels of the statuses, read by screen readers and shown as tooltips. */
export const STATUS_LABELS: Record<MessageStatus, string> = {
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
};
