// The manager's view of a host agent (HostAgent) over the shared agent RPC client
// (src/shared/noded/client.ts): procedure calls, pushed instance events, and a reconnect hook
// after which the manager reconciles.
import { AgentClient } from '../../shared/noded/client.js';
import type { HostAgent, InstanceEvent } from './host-agent.js';

export class NodedAgentClient extends AgentClient implements HostAgent {
  /** Opens the push channel (reconnecting with backoff for as long as the manager runs). */
  connect() {
    this.watch();
  }

  onEvent(listener: (e: InstanceEvent) => void) {
    this.on('event', listener);
  }

  onReconnect(listener: () => void) {
    this.on('connect', listener);
  }
}
