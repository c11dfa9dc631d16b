import { createHash } from 'node:crypto';
import type { PushJob, PushSettings } from '@switchboard/core';
import type { PushNotification } from '@switchboard/push';

/** Maximum length of the preview text in code points. The providers cut it further to fit their payload limits. */
export const MAX_PREVIEW_CODE_POINTS = 240;

/**
 * Returns the collapse key of a conversation: 22 base64url characters of its SHA-256.
 *
 * The key reaches the push services in clear (APNs apns-collapse-id, FCM collapse_key, the
 * Web Push Topic header), so it is a digest rather than the conversation id, which contains
 * user ids. 22 characters fit every provider's limit (Web Push allows 32).
 */
export function collapseKeyOf(conv: string): string {
  return createHash('sha256').update(conv).digest('base64url').slice(0, 22);
}

/**
 * Builds the one notification that stands for `jobs`, the collapsed jobs of one user in one
 * conversation, ordered by sequence number.
 *
 * `unread` is the number of jobs collapsed into it. With previews on, the title is
 * `senderName` (the sender id by default) of the newest message and the body its text. With
 * previews off, neither sender nor text appears anywhere in the notification.
 */
export function buildNotification(
  jobs: readonly PushJob[],
  settings: PushSettings,
  senderName?: string,
): PushNotification {
  const newest = jobs.at(-1);
  if (newest === undefined) throw new Error('buildNotification needs at least one job');
  const unread = jobs.length;
  const collapseKey = collapseKeyOf(newest.conv);
  const base = { conv: newest.conv, seq: newest.seq, unread, collapseKey };

  if (!settings.previews) {
    return {
      ...base,
      title: newest.kind === 'channel' ? 'New post' : 'New message',
      body: unread === 1 ? 'You have a new message' : `You have ${unread} new messages`,
      data: { kind: newest.kind },
    };
  }
  const more = unread > 1 ? ` (${unread} new messages)` : '';
  let body = previewText(newest.body);
  if (body === '') body = newest.kind === 'channel' ? 'New post' : 'New message';
  return {
    ...base,
    title: `${senderName ?? newest.from}${more}`,
    body,
    data: { kind: newest.kind, from: newest.from },
  };
}

function previewText(body: string | undefined): string {
  if (body === undefined) return '';
  const codePoints = Array.from(body.trim());
  if (codePoints.length <= MAX_PREVIEW_CODE_POINTS) return codePoints.join('');
  return codePoints.slice(0, MAX_PREVIEW_CODE_POINTS - 1).join('') + '…';
}
