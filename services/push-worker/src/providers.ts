import { ConfigError, type Logger } from '@switchboard/core';
import { createProviders, type PushProvider, type PushProvidersConfig } from '@switchboard/push';

/** Provider option paths, as @switchboard/push names them in its errors, to the variables that set them. */
const OPTION_VARIABLES: Array<[prefix: string, variable: string]> = [
  ['webpush.publicKey', 'SWB_PUSH_VAPID_PUBLIC_KEY'],
  ['webpush.timeoutMs', 'SWB_PUSH_SEND_TIMEOUT_MS'],
  ['webpush', 'SWB_PUSH_VAPID_PRIVATE_KEY'],
  ['fcm.serviceAccount', 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE'],
  ['fcm.timeoutMs', 'SWB_PUSH_SEND_TIMEOUT_MS'],
  ['fcm.origin', 'SWB_PUSH_FCM_API_ORIGIN'],
  ['fcm', 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE'],
  ['apns.origin', 'SWB_PUSH_APNS_ORIGIN'],
  ['apns.keyId', 'SWB_PUSH_APNS_KEY_ID'],
  ['apns.teamId', 'SWB_PUSH_APNS_TEAM_ID'],
  ['apns.topic', 'SWB_PUSH_APNS_TOPIC'],
  ['apns.timeoutMs', 'SWB_PUSH_SEND_TIMEOUT_MS'],
  ['apns', 'SWB_PUSH_APNS_KEY_FILE'],
];

/**
 * Creates the providers of `config`. A ConfigError of a provider is raised again naming the
 * SWB_PUSH_ variable behind the option, so that the service exits naming what to fix.
 */
export function createConfiguredProviders(config: PushProvidersConfig, logger: Logger): PushProvider[] {
  try {
    return Object.values(createProviders({ ...config, logger }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const match = OPTION_VARIABLES.find(([prefix]) => err.variable.startsWith(prefix));
    if (match === undefined) throw err;
    const detail = err.message.slice(err.variable.length + 2);
    throw new ConfigError(match[1], `${err.variable} ${detail}`);
  }
}
