export { LocalKvsService, describeProtocolError, startLocalService, type LocalServiceOptions, type LocalServiceEvents } from './LocalKvsService.js';
export { ControlPlaneApi, type ChannelInfo } from './ControlPlaneApi.js';
export { SigV4Verifier, type KnownKey, type VerifyResult } from './SigV4Verifier.js';
export { SignalingRouter, type Peer, type Role, type RouterLimits } from './SignalingRouter.js';
export { StunServer, stunBindingResponse } from './StunServer.js';
export { CoturnServer, stunPing, type TurnCredentials } from './CoturnServer.js';
export { IotCredentialsServer, type IssuedCredentials } from './IotCredentialsServer.js';
export { createTestPki, type Pem, type TestPki } from './pki.js';
