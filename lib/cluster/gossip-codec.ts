/**
 * Gossip messages (lib/cluster/gossip.ts) to and from protobuf bytes
 * (protocol/gossip.proto), one message type per verb: GOSSIP_SYN, GOSSIP_ACK, GOSSIP_ACK2.
 * Decoding checks what the gossiper relies on (a heartbeat with a positive generation,
 * non-negative versions), so a garbled or hostile message fails here, in the handler,
 * and never reaches the state machine. A digest may name generation 0: a peer known only
 * from the saved peers (gossip.ts, SAVED_GENERATION), whose real state the receiver sends.
 */
import protobuf from 'protobufjs';
import { ProtocolError } from '../errors.js';
// For its side effect: int64 fields (generations) decode as plain numbers (protobuf-bytes.ts).
import '../protobuf-bytes.js';
import type { Verb } from '../net/transport.js';
import { protocolFile } from '../protocol-files.js';
import type { EndpointStateMessage } from './endpoint-state.js';
import { type GossipDigest, type GossipMessage, SAVED_GENERATION } from './gossip.js';

const root = protobuf.loadSync(protocolFile('gossip.proto'));
const SynMessage = root.lookupType('sibyl.GossipDigestSyn');
const AckMessage = root.lookupType('sibyl.GossipDigestAck');
const Ack2Message = root.lookupType('sibyl.GossipDigestAck2');

export type GossipVerb = Extract<Verb, 'GOSSIP_SYN' | 'GOSSIP_ACK' | 'GOSSIP_ACK2'>;

export const GOSSIP_VERBS: readonly GossipVerb[] = ['GOSSIP_SYN', 'GOSSIP_ACK', 'GOSSIP_ACK2'];

/** Decoded shapes: protobufjs leaves an absent sub-message null or undefined. */
interface DigestMsg {
  endpoint: string;
  generation: number;
  maxVersion: number;
}
interface StateMsg {
  endpoint: string;
  heartbeat?: { generation: number; version: number } | null;
  states: { name: string; value: string; version: number }[];
  since: number;
}

/** The verb that carries `message`. */
export function gossipVerb(message: GossipMessage): GossipVerb {
  switch (message.kind) {
    case 'GossipDigestSyn':
      return 'GOSSIP_SYN';
    case 'GossipDigestAck':
      return 'GOSSIP_ACK';
    case 'GossipDigestAck2':
      return 'GOSSIP_ACK2';
  }
}

export function encodeGossipMessage(message: GossipMessage): Uint8Array {
  // The gossip.ts shapes already match the proto's field names; `kind` is not a field
  // and protobufjs ignores it.
  switch (message.kind) {
    case 'GossipDigestSyn':
      return SynMessage.encode(message as unknown as protobuf.Message).finish();
    case 'GossipDigestAck':
      return AckMessage.encode(message as unknown as protobuf.Message).finish();
    case 'GossipDigestAck2':
      return Ack2Message.encode(message as unknown as protobuf.Message).finish();
  }
}

/** Decodes the payload of a gossip verb; throws ProtocolError on bytes that are not one. */
export function decodeGossipMessage(verb: GossipVerb, bytes: Uint8Array): GossipMessage {
  try {
    switch (verb) {
      case 'GOSSIP_SYN': {
        const message = SynMessage.decode(bytes) as unknown as { clusterName: string; digests: DigestMsg[] };
        return { kind: 'GossipDigestSyn', clusterName: message.clusterName, digests: message.digests.map(digest) };
      }
      case 'GOSSIP_ACK': {
        const message = AckMessage.decode(bytes) as unknown as { requests: DigestMsg[]; states: StateMsg[] };
        return { kind: 'GossipDigestAck', requests: message.requests.map(digest), states: message.states.map(endpointState) };
      }
      case 'GOSSIP_ACK2': {
        const message = Ack2Message.decode(bytes) as unknown as { states: StateMsg[] };
        return { kind: 'GossipDigestAck2', states: message.states.map(endpointState) };
      }
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(`Invalid ${verb} message: ${(error as Error).message}`);
  }
}

function digest(msg: DigestMsg): GossipDigest {
  checkGeneration(msg.generation, msg.endpoint, SAVED_GENERATION);
  checkVersion(msg.maxVersion, msg.endpoint);
  return { endpoint: msg.endpoint, generation: msg.generation, maxVersion: msg.maxVersion };
}

function endpointState(msg: StateMsg): EndpointStateMessage {
  const heartbeat = msg.heartbeat;
  if (heartbeat == null) throw new ProtocolError(`Invalid gossip state for /${msg.endpoint}: no heartbeat`);
  checkGeneration(heartbeat.generation, msg.endpoint);
  checkVersion(heartbeat.version, msg.endpoint);
  const states = msg.states.map((entry) => {
    checkVersion(entry.version, msg.endpoint);
    return { name: entry.name, value: entry.value, version: entry.version };
  });
  checkVersion(msg.since, msg.endpoint);
  return {
    endpoint: msg.endpoint,
    heartbeat: { generation: heartbeat.generation, version: heartbeat.version },
    states,
    since: msg.since,
  };
}

function checkGeneration(generation: number, endpoint: string, generationMin = SAVED_GENERATION + 1): void {
  if (!Number.isSafeInteger(generation) || generation < generationMin) {
    throw new ProtocolError(`Invalid gossip generation ${generation} for /${endpoint}`);
  }
}

function checkVersion(version: number, endpoint: string): void {
  if (!Number.isInteger(version) || version < 0) throw new ProtocolError(`Invalid gossip version ${version} for /${endpoint}`);
}
