/**
 * Features of the web client that depend on the back end. A flag that is off makes the
 * component behind it render nothing (or a neutral placeholder) and send nothing, for a
 * back end that lacks the feature.
 */
export interface WebCapabilities {
  /** Online and offline status of users. Without it the presence dot shows `unknown`. */
  presence: boolean;
  /** Typing notices. Without them the typing indicator stays empty. */
  typing: boolean;
  /** Web Push subscriptions and notification settings (the API's /v1/push routes). */
  webPush: boolean;
  /** Group conversations: creating them, managing their members and showing their changes. */
  groups: boolean;
}

/** Capabilities of the back end: presence, typing, Web Push and groups are all served. */
export const CAPABILITIES: Readonly<WebCapabilities> = Object.freeze({
  presence: true,
  typing: true,
  webPush: true,
  groups: true,
});
