import type { ControlPlane } from './ControlPlane.js';
import type { CredentialsProvider } from './Credentials.js';
import { SignalingClient, type SignalingClientOptions } from './SignalingClient.js';
import type { ChannelRole } from './types.js';

export type ChannelSignalingOptions = Omit<
  SignalingClientOptions,
  'region' | 'channelArn' | 'resolveEndpoint' | 'refreshIceServers' | 'credentials' | 'role' | 'clientId' | 'clock'
> & {
  controlPlane: ControlPlane;
  credentials: CredentialsProvider;
  role: ChannelRole;
  clientId?: string;
};

/**
 * A SignalingClient wired to a control plane: endpoints come from (and are re-resolved through)
 * it, RECONNECT_ICE_SERVER refreshes its ICE servers, and both share one skew-corrected clock.
 */
export async function createChannelSignaling(o: ChannelSignalingOptions): Promise<SignalingClient> {
  const { controlPlane: cp, ...rest } = o;
  // Nothing is asked of the network here: a camera that boots before its network (or before
  // the service) gets a client whose open() retries with backoff until AWS answers.
  return new SignalingClient({
    ...rest,
    region: cp.region,
    channelArn: async () => (await cp.getEndpoints(o.role)).channelArn,
    clock: cp.clock,
    resolveEndpoint: async ({ refresh }) => (await cp.getEndpoints(o.role, { refresh })).wss,
    refreshIceServers: () => cp.getIceServers(o.role, o.clientId, { forceRefresh: true }),
  });
}
