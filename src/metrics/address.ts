// `--metrics ADDR`: where the supervisor serves /metrics. HOST:PORT, [IPv6]:PORT or a bare
// PORT (on loopback). Checked when the options are read, so a typo is a usage error.
import { z } from "zod";
import { encodeSockAddr } from "../../ffi/index.ts";

/**
 * Loopback: the metrics carry what an app's users should not see (traffic, reload history),
 * and a scraper on the same host or a sidecar reaches it; binding elsewhere is a choice.
 */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

const EXPECTED = "expected HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464) or a port number (on 127.0.0.1); the host must be a numeric IP address";

/** Parses ADDR; returns an error message (what is expected) instead of throwing. */
export function parseMetricsAddress(input: string | number): MetricsAddress | string {
  const text = String(input).trim();
  let host = DEFAULT_METRICS_HOST;
  let portText = text;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (v6) [, host, portText] = v6 as unknown as [string, string, string];
  else if (text.includes(":")) {
    const at = text.lastIndexOf(":");
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host.includes(":")) return `${EXPECTED}: write an IPv6 address in brackets, as [${host}]:${portText}`;
  }
  if (host === "localhost") host = DEFAULT_METRICS_HOST;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return `${EXPECTED}: the port must be a whole number from 0 to 65535 (0 picks a free one)`;
  try {
    encodeSockAddr(host, 0);
  } catch {
    return `${EXPECTED}: "${host}" is not a numeric IP address (host names are not resolved)`;
  }
  return { host, port: Number(portText) };
}

/** The option's schema (config key `metrics`, flag `--metrics`): a string, or a port number. */
export const metricsAddressSchema = z
  .union([z.string(), z.number()], { error: EXPECTED })
  .superRefine((v, ctx) => {
    const r = parseMetricsAddress(v);
    if (typeof r === "string") ctx.addIssue({ code: "custom", message: r });
  });

/** "http://127.0.0.1:9464/metrics" */
export function metricsUrl(a: MetricsAddress): string {
  const host = a.host.includes(":") ? `[${a.host}]` : a.host;
  return `http://${host}:${a.port}${METRICS_PATH}`;
}

export const METRICS_PATH = "/metrics";
