import t from 'tap';
import * as protocol from '../../src/protocol';

t.test('the public entry point exports the whole protocol API, each defined', async (t) => {
  const names = Object.keys(protocol).sort();
  t.same(names, [
    'CALLS_VERSION',
    'CALL_ERROR_CODES',
    'ConnectError',
    'DEFAULT_AGENT_PORT',
    'DEFAULT_MAX_FRAME',
    'ERROR_CODES',
    'FrameDecoder',
    'FramedSocket',
    'HostListError',
    'LIMITS',
    'MessageReader',
    'NextMessageError',
    'PROTOCOL_VERSION',
    'PROTOCOL_VERSIONS',
    'ProtocolError',
    'connectFramed',
    'decodePayload',
    'encodeMessage',
    'encodeWithin',
    'formatHostSetting',
    'nextMessage',
    'parseHostEntry',
    'parseHostList',
    'parseHostSetting',
    'scanPayload',
    'validateAgentMessage',
    'validateMessage',
    'validateServerMessage',
  ]);
  for (const name of names) t.not((protocol as Record<string, unknown>)[name], undefined, name);
});
