/**
 * Renders who is typing, or an empty live region while nobody is. The region stays in the
 * page, so screen readers announce the text when it appears.
 */
export function TypingIndicator({ names }: { names: readonly string[] }) {
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names[0]} and ${names.length - 1} others are typing…`;
  return (
    <p className="typing-indicator" aria-live="polite" data-typing={names.length > 0 ? 'true' : undefined}>
      {text}
    </p>
  );
}
