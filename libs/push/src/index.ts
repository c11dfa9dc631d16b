import type { Logger } from '@switchboard/core';
import { ApnsProvider, type ApnsProviderConfig } from './apns-provider.ts';
import { FcmProvider, type FcmProviderConfig } from './fcm-provider.ts';
import type { PushProvider } from './provider.ts';
import { WebPushProvider, type WebPushProviderConfig } from './web-push-provider.ts';

export {
  DEFAULT_WEB_PUSH_HOSTS,
  MAX_WEB_PUSH_ENDPOINT_LENGTH,
  parseRetryAfter,
  validateWebPushEndpoint,
  validateWebPushKeys,
  type PushNotification,
  type PushProvider,
  type SendOutcome,
} from './provider.ts';
export { WebPushProvider, type WebPushProviderConfig } from './web-push-provider.ts';
export {
  DEFAULT_FCM_ORIGIN,
  DEFAULT_GOOGLE_TOKEN_URI,
  FCM_SCOPE,
  FcmProvider,
  type FcmProviderConfig,
  type FcmServiceAccount,
} from './fcm-provider.ts';
export {
  APNS_TOKEN_LIFETIME_MS,
  ApnsProvider,
  DEFAULT_APNS_ORIGIN,
  type ApnsProviderConfig,
} from './apns-provider.ts';

/** Configuration of every provider; a provider whose section is absent is not created. */
export interface PushProvidersConfig {
  webpush?: WebPushProviderConfig;
  fcm?: FcmProviderConfig;
  apns?: ApnsProviderConfig;
  /** Logger passed to each provider whose own section sets none. */
  logger?: Logger;
}

/** The configured providers, by target kind. */
export type PushProviders = Partial<Record<PushProvider['kind'], PushProvider>>;

/**
 * Creates the providers whose configuration is present. Throws ConfigError for an invalid
 * section; providers created before the failing one are closed first.
 */
export function createProviders(config: PushProvidersConfig): PushProviders {
  const providers: PushProviders = {};
  const logger = config.logger;
  try {
    if (config.webpush !== undefined) {
      providers.webpush = new WebPushProvider({ logger, ...config.webpush });
    }
    if (config.fcm !== undefined) {
      providers.fcm = new FcmProvider({ logger, ...config.fcm });
    }
    if (config.apns !== undefined) {
      providers.apns = new ApnsProvider({ logger, ...config.apns });
    }
  } catch (error) {
    for (const provider of Object.values(providers)) void provider.close();
    throw error;
  }
  return providers;
}

/** Closes every provider in `providers`, waiting for all of them. */
export async function closeProviders(providers: PushProviders): Promise<void> {
  await Promise.allSettled(Object.values(providers).map((provider) => provider.close()));
}
