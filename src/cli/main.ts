#!/usr/bin/env node
// Placeholder until the server issue lands: says what `agentlb server` will do.
console.log('agentlb: the management server daemon is not built yet; `agentlb server` will listen on 0.0.0.0:8250 (agents) and 127.0.0.1:8251 (admin).');
