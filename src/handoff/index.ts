// The wire between liveframe processes: message schemas, channels, connection transfer.
export * from "./messages.ts";
export { Channel, channelPair, type ChannelEnds, type ChannelHandlers } from "./channel.ts";
export { ConnectionSender, adoptBatch } from "./connections.ts";
