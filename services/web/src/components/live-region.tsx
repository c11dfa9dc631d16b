import type { Announcement } from '../model/chat-model.ts';

/** Renders a hidden live region that screen readers read out when a new message arrives. */
export function LiveRegion({ announcement }: { announcement: Announcement | null }) {
  return (
    <div
      className="visually-hidden"
      role="log"
      aria-live="polite"
      aria-atomic="false"
      data-testid="announcements"
    >
      {announcement !== null && <p key={announcement.id}>{announcement.text}</p>}
    </div>
  );
}
