/** A value that survives JSON.stringify/parse unchanged: what may move between generations. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
