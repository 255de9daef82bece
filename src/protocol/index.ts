/** The protocol layer's public API: one codec, used unchanged by the server and the agent. */
export * from './messages';
export { LIMITS, DEFAULT_AGENT_PORT } from './limits';
export { FrameDecoder } from './frame-decoder';
export type { FrameDecoderOptions, FrameHandler } from './frame-decoder';
export { scanPayload } from './msgpack-subset';
export { decodePayload, MessageReader } from './message-decoder';
export type { MessageReaderOptions, MessageHandler, Direction, AcceptedMessage } from './message-decoder';
export { validateMessage, validateAgentMessage, validateServerMessage } from './validate';
export { encodeMessage, encodeWithin } from './encoder';
export { HostListError, parseHostEntry, parseHostList, parseHostSetting, formatHostSetting } from './host-list';
export type { HostEntry, HostSetting } from './host-list';
export { FramedSocket, ConnectError, connectFramed, nextMessage, NextMessageError } from './framed-socket';
export type {
  FramedSocketEvents,
  FramedSocketOptions,
  ConnectErrorCode,
  ConnectOptions,
  NextMessageErrorCode,
} from './framed-socket';
