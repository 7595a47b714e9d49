// What an app may ask about the generation it runs in (the demo page shows it). Outside
// liveframe (plain `bun app.ts`) it reads generation 0 and underLiveframe false.

let adopted = 0;

const envNumber = Number(process.env.LIVEFRAME_GENERATION);
const number = Number.isInteger(envNumber) && envNumber > 0 ? envNumber : 0;

export interface GenerationInfo {
  /** 1 for the first generation, +1 per successful reload or crash restart; 0 outside liveframe. */
  readonly number: number;
  readonly pid: number;
  /** Live connections this generation adopted from its predecessor so far. */
  readonly adoptedConnections: number;
  /** True when started by a liveframe supervisor. */
  readonly underLiveframe: boolean;
}

export const generation: GenerationInfo = Object.freeze({
  number,
  pid: process.pid,
  get adoptedConnections() {
    return adopted;
  },
  underLiveframe: number > 0 && process.env.LIVEFRAME_RUNTIME_DIR !== undefined,
});

/** Called by the generation runtime when connections were adopted. Not for apps. */
export function noteAdopted(count: number): void {
  adopted += count;
}
