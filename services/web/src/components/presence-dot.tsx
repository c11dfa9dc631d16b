import type { PresenceStatus } from '../hooks/use-presence.ts';

const LABELS: Record<Exclude<PresenceStatus, 'unknown'>, string> = { online: 'Online', offline: 'Offline' };

/**
 * Renders a small dot for a user's presence. While presence is unknown the dot is neutral
 * grey and hidden from screen readers, because it carries no information.
 */
export function PresenceDot({ status }: { status: PresenceStatus }) {
  if (status === 'unknown')
    return <span className="presence-dot" data-presence="unknown" aria-hidden="true" />;
  return <span className="presence-dot" data-presence={status} role="img" aria-label={LABELS[status]} />;
}
