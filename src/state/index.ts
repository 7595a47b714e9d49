// The state layer: typed views over an mlocked, shared mmap region that outlives generations.
export {
  defineState,
  syncAllStates,
  stateFile,
  DEFAULT_RUNTIME_DIR,
  type State,
  type StateOptions,
  type StateInfo,
  type StateMethods,
  type NumberView,
  type BigIntView,
  type ValueView,
  type ArrayView,
  type ObjectView,
  type ViewOf,
} from "./define.ts";
export { StateSchemaError } from "./schema.ts";
export { RegionRefusedError } from "./header.ts";
export { StateLockTimeoutError, DEFAULT_LOCK_TIMEOUT_MS } from "./lock.ts";
export { MAX_REGION_BYTES } from "./region.ts";
