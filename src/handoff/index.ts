// The wire between liveframe processes: message schemas, channels, connection transfer.
export * from "./messages.ts";
export { Channel, channelPair, FdsLost, type ChannelEnds, type ChannelHandlers, type ChannelOptions } from "./channel.ts";
export { ConnectionSender, adoptBatch, BATCH_BUDGET_BYTES, type ConnectionSenderOptions } from "./connections.ts";
