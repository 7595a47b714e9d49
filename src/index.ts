// liveframe's library entry: what app authors and scripts import from "liveframe".
// Each layer adds its public names here.
// reload layer
export { generation, type GenerationInfo } from "./generation/info.ts";
