// liveframe's library entry: what app authors and scripts import from "liveframe".
// Each layer adds its public names here.
export {};
