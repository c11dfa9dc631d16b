import type { ConnectionStatus } from '@switchboard/client';

interface OfflineBannerProps {
  connection: ConnectionStatus;
  everReady: boolean;
  browserOnline: boolean;
}

/**
 * Renders a banner while the client cannot reach its chat node. The SDK reconnects and
 * catches up by itself, so the banner only informs the user that sends are queued meanwhile.
 */
export function OfflineBanner({ connection, everReady, browserOnline }: OfflineBannerProps) {
  const reconnecting = everReady && (connection === 'waiting' || connection === 'connecting');
  let text: string | null = null;
  if (!browserOnline) text = 'You are offline. Messages you write are sent when the connection is back.';
  else if (reconnecting) text = 'Connection lost. Reconnecting… Messages you write are queued.';

  // The live region stays in the page, so screen readers announce the text when it appears.
  return (
    <div className="offline-banner" role="status" data-visible={text !== null}>
      {text}
    </div>
  );
}
