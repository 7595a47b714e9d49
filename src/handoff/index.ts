// The wire between liveframe processes: message schemas, channels, connection transfer.
export * from "./messages.ts";
export { Channel, channelPair, type ChannelEnds, type ChannelHandlers } from "./channel.ts";
export { ConnectionSender, adoptBatch, BATCH_BUDGET_BYTES, type ConnectionSenderOptions } from "./connections.ts";
