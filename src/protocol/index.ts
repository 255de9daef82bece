/** The protocol layer's public API: one codec, used unchanged by the server and the agent. */
export * from './messages';
export { LIMITS, DEFAULT_AGENT_PORT } from './limits';
export { FrameDecoder, FrameDecoderOptions, FrameHandler } from './frame-decoder';
export { scanPayload } from './msgpack-subset';
export {
  decodePayload,
  MessageReader,
  MessageReaderOptions,
  MessageHandler,
  Direction,
  AcceptedMessage,
} from './message-decoder';
export { validateMessage, validateAgentMessage, validateServerMessage } from './validate';
export { encodeMessage } from './encoder';
export {
  HostListError,
  HostEntry,
  HostSetting,
  parseHostEntry,
  parseHostList,
  parseHostSetting,
  formatHostSetting,
} from './host-list';
export {
  FramedSocket,
  FramedSocketEvents,
  FramedSocketOptions,
  ConnectError,
  ConnectErrorCode,
  ConnectOptions,
  connectFramed,
  nextMessage,
  NextMessageError,
  NextMessageErrorCode,
} from './framed-socket';
