import { useCallback, useEffect, useState } from 'react';

/** The screen the URL points at: the conversation list, or one conversation. */
export type Route = { view: 'list' } | { view: 'chat'; conv: string };

const CHAT_PREFIX = '#/c/';

/** Parses `#/c/<conversation id>`; anything else is the conversation list. */
export function parseRoute(hash: string): Route {
  if (!hash.startsWith(CHAT_PREFIX)) return { view: 'list' };
  const conv = decodeURIComponent(hash.slice(CHAT_PREFIX.length));
  return conv === '' ? { view: 'list' } : { view: 'chat', conv };
}

export function formatRoute(route: Route): string {
  return route.view === 'chat' ? `${CHAT_PREFIX}${encodeURIComponent(route.conv)}` : '#/';
}

/**
 * Returns the route in the URL's fragment and a function that navigates. The fragment keeps
 * the open conversation across a reload, and the server only needs to serve `/`.
 */
export function useHashRoute(): [Route, (route: Route) => void] {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));

  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);

  const navigate = useCallback((next: Route) => {
    const hash = formatRoute(next);
    if (window.location.hash !== hash) window.location.hash = hash;
    setRoute(next);
  }, []);

  return [route, navigate];
}
