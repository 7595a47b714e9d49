// Preloaded by bun test (bunfig.toml). Reload and handoff tests spawn real supervisors and
// generations; on a loaded 2-core machine they need more than Bun's 5 s default. Bun 1.4.5
// ignores `timeout` in bunfig.toml, so the default is set here for every test file.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);
