// The CLI's view of the reload layer (src/supervisor/). One import point, so the commands
// name the contract in one place. Loaded by start/dev/reload/status/stop only; `init`,
// `--help` and `--version` still pay for it at import time, which is small (no I/O).
export { ControlError, DEFAULT_STATUS_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS } from "../supervisor/client.ts";
export {
  sendControl,
  startSupervisor,
  type ReloadOutcome,
  type StatusReport,
  type Supervisor,
  type SupervisorEvent,
  type SupervisorOptions,
} from "../supervisor/index.ts";
