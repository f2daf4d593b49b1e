export { KvsError, KvsUsageError, type KvsErrorCode } from './KvsError.js';
export { Clock } from './Clock.js';
export {
  RefreshingCredentialsProvider,
  toAwsSdkCredentials,
  type AwsCredentials,
  type CredentialsProvider,
  type RefreshOptions,
} from './Credentials.js';
export { StaticCredentialsProvider } from './StaticCredentialsProvider.js';
export { EnvCredentialsProvider } from './EnvCredentialsProvider.js';
export { ProfileCredentialsProvider, parseIni, type ProfileOptions } from './ProfileCredentialsProvider.js';
export { IotCredentialsProvider, type IotCredentialsOptions } from './IotCredentialsProvider.js';
export { presignSignalingUrl, awsUriEncode, type PresignOptions } from './presign.js';
export { ControlPlane, toKvsError, type ControlPlaneOptions, type ControlPlaneEvents } from './ControlPlane.js';
export {
  SignalingClient,
  type SignalingClientOptions,
  type SignalingClientEvents,
  type SignalingState,
} from './SignalingClient.js';
export { createChannelSignaling, type ChannelSignalingOptions } from './connect.js';
export * from './types.js';
